"""Export and import: a scope, or the whole store, as a versioned JSON Lines file that any
backend can be rebuilt from (``docs/export.md``). ``Memory.export`` / ``Memory.import_``."""

from .dump import dump
from .load import load
from .schema import FORMAT, VERSION

__all__ = ["FORMAT", "VERSION", "dump", "load"]
