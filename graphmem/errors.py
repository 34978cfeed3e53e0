"""The exception tree: one base, a shallow set of subclasses.

Every error graphmem raises on purpose derives from :class:`GraphMemError`; driver
errors are wrapped (``raise BackendError(...) from e``) so callers never have to
import chromadb, neo4j or openai to handle failures.
"""

from __future__ import annotations


class GraphMemError(Exception):
    """Base class of every graphmem error."""


class ConfigError(GraphMemError, ValueError):
    """Invalid configuration, or a missing model / pipeline that must be installed."""


class InvalidInputError(GraphMemError, ValueError):
    """Bad arguments: empty or oversized text, a missing scope, an unknown filter operator."""


class BackendError(GraphMemError):
    """A store (Chroma, Neo4j, SQLite) failed; the original error is the ``__cause__``."""


class ExportFileError(InvalidInputError):
    """A file ``import`` cannot take: not a graphmem export, of an unknown format version,
    truncated or inconsistent. Raised before anything is written."""


class ExtractionError(GraphMemError):
    """The LLM did not return a usable reply after the allowed retries."""


class ReadOnlyError(GraphMemError):
    """A write on a ``Memory`` opened with ``read_only``."""


class NotFoundError(GraphMemError, KeyError):
    """No memory with that id in this store."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "not found"


class Unauthorized(GraphMemError):
    """A server call without a valid API key (HTTP 401)."""


class Forbidden(GraphMemError, PermissionError):
    """A server call outside what its API key may do: another scope, or an admin call (403)."""
