"""Parsing Canonical Form and CRC-64-AVRO fingerprints, as single-object encoding puts them on wire.

The Avro spec's single-object header is ``C3 01`` followed by the 64-bit Rabin fingerprint of the
schema's Parsing Canonical Form, little-endian. ``fastavro.schema.fingerprint`` returns the hex of
exactly those eight wire bytes (``"int"`` gives ``8f5c393f1ad57572``, the Java long
``0x7275d51a3f395c8f``), so ``bytes.fromhex`` is the right conversion; reversing it would be wrong.

The Apache ``avro`` Python library (1.12) computes a different canonical form when a primitive
carries a logical type: it keeps ``{"type":"long"}`` where the spec, Java and fastavro write
``"long"``. Every timestamp in our schemas is such a primitive, so a Python producer using
``avro``'s ``schema.fingerprint()`` would stamp a fingerprint that no other implementation computes.
:func:`apache_python_canonical_form` reproduces that form so that the schema store can accept those
fingerprints as aliases; we always write the spec's.
"""

from __future__ import annotations

import json
from typing import Any

from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "SINGLE_OBJECT_MAGIC",
    "apache_python_canonical_form",
    "canonical_form",
    "fingerprint64",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


def canonical_form(schema: Any) -> str:
    """The spec's Parsing Canonical Form of a schema given as parsed JSON."""
    return str(to_parsing_canonical_form(schema))


def fingerprint64(canonical: str) -> bytes:
    """The CRC-64-AVRO fingerprint of a canonical form: the eight bytes the wire carries."""
    return bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))


def apache_python_canonical_form(schema: Any) -> str:
    """The canonical form the Apache ``avro`` Python library computes (see the module docstring)."""
    seen: set[str] = set()
    return json.dumps(_apache_form(schema, "", seen), separators=(",", ":"), ensure_ascii=False)


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _apache_form(schema: Any, namespace: str, seen: set[str]) -> Any:
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else _full_name(schema, namespace)
    if isinstance(schema, list):
        return [_apache_form(branch, namespace, seen) for branch in schema]
    kind = schema["type"]
    if kind in _PRIMITIVES:
        # The divergence from the spec: any attribute besides "type" keeps the object form.
        return kind if len(schema) == 1 else {"type": kind}
    if kind == "array":
        return {"type": "array", "items": _apache_form(schema["items"], namespace, seen)}
    if kind == "map":
        return {"type": "map", "values": _apache_form(schema["values"], namespace, seen)}
    if kind in _NAMED:
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        if full in seen:
            return full
        seen.add(full)
        inner = full.rpartition(".")[0]
        out: dict[str, Any] = {"name": full, "type": kind}
        if kind == "enum":
            out["symbols"] = schema["symbols"]
        elif kind == "fixed":
            out["size"] = schema["size"]
        else:
            out["fields"] = [
                {"name": f["name"], "type": _apache_form(f["type"], inner, seen)}
                for f in schema["fields"]
            ]
        return out
    # A bare reference written as {"type": "io.actionstream.Name"}.
    return _apache_form(kind, namespace, seen)
