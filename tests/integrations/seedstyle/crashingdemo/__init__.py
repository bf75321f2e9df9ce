"""A service package with a bug: it raises at import (not an ImportError)."""

raise RuntimeError("crashingdemo is broken: settings missing")
