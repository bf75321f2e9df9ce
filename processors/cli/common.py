"""Helpers shared by the commands: settings, output, clear failures."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from processors import preflight
from processors.settings import Settings

# Pipes get a wide console: tables are read by people who scroll, and by grep.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, soft_wrap=True)


def load_settings(*, worker: bool = False, debug: bool = False) -> Settings:
    """The checked settings, or the one-line configuration error and exit code 2
    (``debug``: the traceback instead)."""
    try:
        return preflight.load_settings(worker=worker)
    except preflight.ConfigError as exc:
        if debug:
            raise
        fail(str(exc), code=2)


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Print a clear error (what was wrong and what to do) and exit non-zero."""
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)
