"""graphmem: long-term graph memory for AI agents, with multi-hop recall.

from graphmem import Memory
m = Memory()
m.add("My manager Bob works at Acme in Berlin.", user_id="alice")
m.search("Where does my manager work?", user_id="alice")
"""

from .aio import AsyncMemory
from .config import Config
from .errors import (
    BackendError,
    ConfigError,
    ExportFileError,
    ExtractionError,
    Forbidden,
    GraphMemError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    Unauthorized,
)
from .memory import Memory
from .qa import format_context
from .retrieve import PRESETS, SearchConfig

__all__ = [
    "PRESETS",
    "AsyncMemory",
    "BackendError",
    "Config",
    "ConfigError",
    "ExportFileError",
    "ExtractionError",
    "Forbidden",
    "GraphMemError",
    "InvalidInputError",
    "Memory",
    "NotFoundError",
    "ReadOnlyError",
    "SearchConfig",
    "Unauthorized",
    "format_context",
]
__version__ = "0.2.0"
