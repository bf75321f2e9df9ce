"""Read a py-spy speedscope profile into the functions that cost the most.

``py-spy record --function --format speedscope`` writes one sampled profile per thread, each
sample a stack of frame indexes, root first. Only the main thread (the worker's event loop, where
the processing runs) is ranked; the other threads' sample counts are listed (Faust runs its
consumer's loop in a thread of its own).

* **self**: the share of samples with the function as the leaf.
* **cumulative**: the share of samples with the function on the stack, counted once per sample,
  looking only *below* the event loop's dispatch (``Handle._run``): every sample is inside the
  loop and the worker's entry points, so ranking those would say nothing. Samples outside any
  callback (the loop's own scheduling and ``select``) count as ``(event loop)``.
* **self by package**: self time summed per top-level package (sums to 100 %).

Idle samples (waiting in ``epoll``) are left out by py-spy unless ``--idle`` is given, so shares
are of the CPU time the thread used.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

_PREFIXES = (re.compile(r".*/site-packages/"), re.compile(r".*/lib/python3\.\d+/"))
_DISPATCH = ("Handle._run", "asyncio/events.py")
_LOOP = "(event loop)"


def short_path(path: str, repo: Path | None = None) -> str:
    """``aiokafka/conn.py``, ``asyncio/events.py``, ``processors/ordering.py``."""
    site, stdlib = _PREFIXES
    if site.match(path):
        return site.sub("", path, count=1)
    if repo is not None and path.startswith(str(repo) + "/"):
        return path[len(str(repo)) + 1 :]
    return stdlib.sub("", path, count=1)


def _package(path: str) -> str:
    head = path.split("/", 1)[0]
    head = head.removesuffix(".py").strip("<>")
    return head.split(" ")[-1] if head else "?"


def summarize(path: Path, *, top: int = 15, repo: Path | None = None) -> dict[str, Any]:
    """Main-thread samples and the ``top`` functions by cumulative and by self share (%)."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    files = [short_path(f.get("file") or "?", repo) for f in frames]
    labels = [
        f"{f['name']} ({file}:{f.get('line') or '?'})"
        for f, file in zip(frames, files, strict=True)
    ]
    dispatch = {
        i for i, f in enumerate(frames) if f["name"] == _DISPATCH[0] and files[i] == _DISPATCH[1]
    }
    profiles = data["profiles"]
    threads = {p["name"]: len(p["samples"]) for p in profiles}
    main = next((p for p in profiles if "MainThread" in p["name"]), None)
    if main is None:
        main = max(profiles, key=lambda p: len(p["samples"]))
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for stack in main["samples"]:
        if not stack:
            continue
        total += 1
        leaf = stack[-1]
        own[labels[leaf]] += 1
        packages[_package(files[leaf])] += 1
        cut = max((k for k, i in enumerate(stack) if i in dispatch), default=None)
        if cut is None or cut == len(stack) - 1:
            cumulative[_LOOP] += 1
            continue
        for label in {labels[i] for i in stack[cut + 1 :]}:
            cumulative[label] += 1

    def ranked(counter: Counter[str], key: str = "function") -> list[dict[str, Any]]:
        return [
            {key: label, "percent": round(100 * n / total, 1)}
            for label, n in counter.most_common(top)
        ]

    return {
        "thread": main["name"],
        "samples": total,
        "thread_samples": threads,
        "top_cumulative": ranked(cumulative) if total else [],
        "top_self": ranked(own) if total else [],
        "self_by_package": ranked(packages, "package") if total else [],
    }
