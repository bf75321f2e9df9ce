"""JSON Schema handling for integrations: checking ``config_schema`` and validating configs.

Compiled validators are cached by the schema's canonical JSON text, so a seed-style
integration whose ``metadata`` property builds a fresh ``IntegrationMetadata`` on
every access still compiles its schema once.

A config is first checked by ``jsonschema-rs`` (Rust, linear-time regular expressions, about
0.1 µs for a typical config against 14 µs for the Python validator): a config it accepts is
valid. Anything else goes to the Python ``jsonschema`` validator, whose verdict and messages are
the ones we report; so the fast path can only let through what it finds valid itself, and a
schema it cannot compile (a Python-only regular expression) just has no fast path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from integrations.errors import InvalidConfigError

__all__ = [
    "check_config_schema",
    "compiled_schema",
    "compiled_validator",
    "config_errors",
    "validate_config",
]

# Long values (a 4 KB message text) would drown the useful part of the message.
_MAX_ERROR_CHARS = 240
_MAX_ERRORS = 20


def check_config_schema(schema: object) -> None:
    """Raise ``ValueError`` (with the schema's own complaint) unless ``schema`` is valid.

    Only dict schemas are accepted: a config is always a JSON object, and the boolean
    schemas ``true``/``false`` would either accept anything or nothing.
    """
    if not isinstance(schema, Mapping):
        raise ValueError(
            f"config_schema must be a JSON Schema object (a dict), got {type(schema).__name__}; "
            'use e.g. {"type": "object", "properties": {...}}'
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = exc.json_path if exc.path else "$"
        raise ValueError(
            f"config_schema is not a valid JSON Schema (draft 2020-12) at {where}: "
            f"{_short(exc.message)}; fix the schema so that "
            "jsonschema.Draft202012Validator.check_schema() accepts it"
        ) from None
    compiled_validator(schema)  # fail now, not at the first request, if it cannot compile


_BY_IDENTITY_MAX = 4096
# Metadata is frozen and lives as long as the process: look its schema up by identity first, so
# the hot path does not serialise the schema for every request (the by-content cache below
# catches equal schemas held by different objects). The schema object is kept in the entry, so
# its id cannot be reused while the entry exists.
_by_identity: dict[int, tuple[Mapping[str, Any], _Compiled]] = {}


class _Compiled:
    """A schema's Python validator, and its ``jsonschema-rs`` one if that compiles."""

    __slots__ = ("fast", "python")

    def __init__(self, schema: dict[str, Any]) -> None:
        # Authors who write "format": "email" expect it enforced; 2020-12 only annotates by
        # default.
        self.python = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        self.fast: Any
        try:
            self.fast = jsonschema_rs.validator_for(schema, validate_formats=True)
        except Exception:  # e.g. a regular expression only Python's re understands
            self.fast = None

    def surely_valid(self, config: object) -> bool:
        """True when the fast validator accepts ``config``; False means "ask the Python one"."""
        if self.fast is None:
            return False
        try:
            return bool(self.fast.is_valid(config))
        except ValueError:  # a value JSON cannot hold (bytes, a set, a non-string key)
            return False


def compiled_schema(schema: Mapping[str, Any]) -> _Compiled:
    """The (cached) validators of ``schema``: looked up by identity, then by content."""
    hit = _by_identity.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    compiled = _compile(json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str))
    if len(_by_identity) < _BY_IDENTITY_MAX:
        _by_identity[id(schema)] = (schema, compiled)
    return compiled


def compiled_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """The (cached) Python validator for ``schema``, with format assertions turned on."""
    return compiled_schema(schema).python


@lru_cache(maxsize=1024)
def _compile(schema_json: str) -> _Compiled:
    return _Compiled(json.loads(schema_json))


def config_errors(schema: Mapping[str, Any], config: object) -> list[str]:
    """Every problem with ``config`` as ``"$.path: message"``, the most relevant first."""
    if not isinstance(config, Mapping):
        return [f"$: config must be a JSON object, got {type(config).__name__}"]
    compiled = compiled_schema(schema)
    if compiled.surely_valid(config):
        return []
    errors = list(compiled.python.iter_errors(config))
    if not errors:
        return []
    first = best_match(errors)
    rest = sorted((e for e in errors if e is not first), key=lambda e: (e.json_path, e.message))
    return [_describe(e) for e in [first, *rest]]


def validate_config(
    schema: Mapping[str, Any], config: object, *, integration_id: str | None = None
) -> None:
    """Raise :class:`InvalidConfigError` listing every problem with ``config``."""
    problems = config_errors(schema, config)
    if not problems:
        return
    shown = problems[:_MAX_ERRORS]
    if len(problems) > len(shown):
        shown.append(f"... and {len(problems) - len(shown)} more")
    subject = f"config for {integration_id!r}" if integration_id else "config"
    plural = "s" if len(problems) > 1 else ""
    message = f"invalid {subject} ({len(problems)} error{plural}): " + "; ".join(shown)
    raise InvalidConfigError(message, errors=problems)


def _describe(error: ValidationError) -> str:
    return f"{error.json_path}: {_short(error.message)}"


def _short(text: str) -> str:
    # Cut the middle: jsonschema puts the offending value first and the verdict
    # ("is too long") last, and both matter.
    if len(text) <= _MAX_ERROR_CHARS:
        return text
    tail = _MAX_ERROR_CHARS // 3
    return text[: _MAX_ERROR_CHARS - tail - 5] + " ... " + text[-tail:]
