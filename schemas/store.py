"""The schema store: every versioned ``.avsc`` this process knows, indexed by fingerprint.

Files are named ``<record_type>.v<N>.avsc`` (``integration_request.v1.avsc``). The highest version
of a record type is the one the typed events in :mod:`schemas.events` mirror; older versions stay
in the package for as long as data written with them may still be read.

A reader of single-object encoded data can only resolve a writer schema it has bundled. A version
that only adds defaulted fields or enum symbols needs no special rollout for data that leaves the
fields at their defaults and uses none of the new symbols: the codec writes such data with the
oldest version that carries it (request v2's ``ordering_key`` unset is written as v1; a result
that is not CANCELLED, the symbol result v2 adds, is written as v1). Data that uses a new field
or symbol, or a version that changes more, takes two releases: release N+1 ships
``*.vN.avsc`` but keeps writing the old version (``AvroCodec(write_versions={"integration_request":
1})``), so every reader learns the new fingerprint; release N+2 writes it (so CANCELLED results
are only produced once every reader bundles result v2). With a Schema Registry, readers fetch
unknown writer schemas by id instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from schemas.fingerprint import (
    SINGLE_OBJECT_MAGIC,
    apache_python_canonical_form,
    canonical_form,
    fingerprint64,
)

__all__ = ["SchemaStore", "StoredSchema"]

_FILE_NAME = re.compile(r"(?P<record_type>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc")


@dataclass(frozen=True, slots=True)
class StoredSchema:
    """One version of one event schema, parsed once and ready for the codec."""

    record_type: str
    """File stem before the version, e.g. ``integration_request``."""
    version: int
    full_name: str
    """Namespace-qualified record name, e.g. ``io.actionstream.IntegrationRequest``."""
    schema_json: str
    """Compact JSON text of the schema (docs included): what a Schema Registry receives."""
    parsed: Any
    """The fastavro-parsed schema, reused by every encode and decode."""
    fingerprint: bytes
    """CRC-64-AVRO of the Parsing Canonical Form: the 8 bytes after ``C3 01`` on the wire."""
    header: bytes
    """The single-object header, ``C3 01`` + fingerprint."""
    legacy_fingerprint: bytes
    """The fingerprint the Apache ``avro`` Python library computes; accepted, never written."""
    label: str
    """How messages name this schema: ``integration_request.v1``, or where it came from."""

    @classmethod
    def from_json(
        cls, record_type: str, version: int, text: str, *, label: str | None = None
    ) -> StoredSchema:
        """Parse one schema; raises ``ValueError`` naming the schema when it is not valid Avro."""
        label = label or f"{record_type}.v{version}"
        try:
            raw: Any = json.loads(text)
            parsed: Any = parse_schema(raw)
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            raise ValueError(f"{label}: not a valid Avro schema: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("type") != "record":
            raise ValueError(f"{label}: the top-level schema must be a record")
        fingerprint = fingerprint64(canonical_form(raw))
        return cls(
            record_type=record_type,
            version=version,
            full_name=parsed["name"],
            schema_json=json.dumps(raw, separators=(",", ":"), ensure_ascii=False),
            parsed=parsed,
            fingerprint=fingerprint,
            header=SINGLE_OBJECT_MAGIC + fingerprint,
            legacy_fingerprint=fingerprint64(apache_python_canonical_form(raw)),
            label=label,
        )


class SchemaStore:
    """Every known schema version, by record type and version and by fingerprint."""

    def __init__(self, schemas: Iterable[StoredSchema]) -> None:
        self._versions: dict[str, dict[int, StoredSchema]] = {}
        self._by_fingerprint: dict[bytes, StoredSchema] = {}
        for schema in sorted(schemas, key=lambda s: (s.record_type, s.version)):
            versions = self._versions.setdefault(schema.record_type, {})
            if schema.version in versions:
                raise ValueError(f"{schema.label} is given twice")
            first = next(iter(versions.values()), schema)
            if first.full_name != schema.full_name:
                # Avro resolution matches records by name: a rename would make old data unreadable.
                raise ValueError(
                    f"{schema.label} is named {schema.full_name} but {first.label} is named "
                    f"{first.full_name}; versions of one record type must keep the record's name"
                )
            versions[schema.version] = schema
            # A version that only changed docs has the same fingerprint as an earlier one; the
            # earliest keeps it (both read identical bytes).
            self._by_fingerprint.setdefault(schema.fingerprint, schema)
        for schema in self:
            self._by_fingerprint.setdefault(schema.legacy_fingerprint, schema)

    @classmethod
    def from_directory(cls, *directories: Path) -> SchemaStore:
        """Load every ``<record_type>.v<N>.avsc`` in the given directories."""
        return cls(_load(path for directory in directories for path in directory.iterdir()))

    @classmethod
    def bundled(cls) -> SchemaStore:
        """The schemas shipped in this package (parsed once per process)."""
        return _bundled()

    def with_schemas(self, *extra: StoredSchema) -> SchemaStore:
        """A new store holding this one's schemas plus ``extra``."""
        return SchemaStore([*self, *extra])

    def get(self, record_type: str, version: int | None = None) -> StoredSchema:
        """One version of a record type; the latest when ``version`` is None."""
        versions = self._versions.get(record_type)
        if not versions:
            known = ", ".join(sorted(self._versions)) or "none"
            raise KeyError(f"no schema for record type {record_type!r} (known: {known})")
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            known = ", ".join(f"v{v}" for v in sorted(versions))
            raise KeyError(f"no {record_type}.v{version} schema (known: {known})") from None

    def by_fingerprint(self, fingerprint: bytes) -> StoredSchema | None:
        """The schema with this 8-byte fingerprint (spec or Apache-Python alias), if known."""
        return self._by_fingerprint.get(fingerprint)

    def record_types(self) -> list[str]:
        """Every record type in the store, sorted."""
        return sorted(self._versions)

    def __iter__(self) -> Iterator[StoredSchema]:
        for record_type in sorted(self._versions):
            versions = self._versions[record_type]
            for version in sorted(versions):
                yield versions[version]


def _load(paths: Iterable[Any]) -> Iterator[StoredSchema]:
    # ``paths`` are pathlib or importlib.resources Traversables: both have .name and .read_text().
    for path in paths:
        if not path.name.endswith(".avsc"):
            continue
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(
                f"schema file {path.name!r} must be named <record_type>.v<N>.avsc, "
                "e.g. integration_request.v1.avsc"
            )
        yield StoredSchema.from_json(
            match["record_type"], int(match["version"]), path.read_text(encoding="utf-8")
        )


@cache
def _bundled() -> SchemaStore:
    return SchemaStore(_load(resources.files("schemas").iterdir()))
