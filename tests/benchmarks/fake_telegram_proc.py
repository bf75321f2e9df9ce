"""The fake Telegram Bot API in its own process, dumping what it received when it stops.

``python -m benchmarks.fake_telegram_proc --latency-s 0.05 --dump calls.jsonl`` prints
``fake-telegram: ready <base_url>`` once listening; on SIGTERM it writes every recorded call as
one JSON line (token, method, chat_id, text, arrival time, status, delivered), in arrival order,
then exits. Its own process, so the fake's event loop never shares a core's time slice with the
benchmark driver's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from integrations.telegram.testing import FakeTelegram

READY = "fake-telegram: ready"


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with FakeTelegram(host="127.0.0.1", port=args.port) as fake:
        fake.latency_s = args.latency_s
        print(f"{READY} {fake.base_url} {fake.base_file_url}", flush=True)
        await stop.wait()
        calls = list(fake.calls)
    lines = [
        json.dumps(
            {
                "token": call.token,
                "method": call.method,
                "chat_id": call.chat_id,
                "text": call.text,
                "time": call.time,
                "status": call.status,
                "delivered": call.delivered,
            }
        )
        for call in calls
    ]
    await asyncio.to_thread(Path(args.dump).write_text, "".join(f"{line}\n" for line in lines))
    print(f"fake-telegram: dumped {len(calls)} calls to {args.dump}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-s", type=float, default=0.05)
    parser.add_argument("--dump", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
