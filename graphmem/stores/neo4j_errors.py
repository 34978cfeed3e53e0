"""Neo4j driver errors as graphmem's :class:`~graphmem.errors.BackendError`, in one clear line.

Shared by :class:`~graphmem.stores.neo4j_store.Neo4jGraphStore` and ``graphmem cypher``, so
both say the same thing about a wrong password, an unreachable server or a bad statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable

from ..errors import BackendError

SECURITY = "Neo.ClientError.Security."
AUTH_FAILURES = frozenset({"Unauthorized", "AuthenticationRateLimit", "CredentialsExpired"})
ACCESS_MODE = "Neo.ClientError.Statement.AccessMode"
_REASON = re.compile(r"\(reason ([^)]*)\)")


class ReadOnlyError(BackendError):
    """A statement tried to write inside a read transaction."""


def first_line(text: object) -> str:
    """The first non-empty line of an error message (server messages quote the statement)."""
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _reason(e: Exception) -> str:
    """Why a connection failed: the socket error the driver quotes, else its first line."""
    found = _REASON.search(str(e))
    return found.group(1) if found else first_line(e).rstrip(":")


@contextmanager
def translated(op: str, uri: str, user: str) -> Iterator[None]:
    """Turn any driver error raised inside the block into a one-line :class:`BackendError`."""
    denied = f"neo4j authentication failed for user {user!r} at {uri}"
    try:
        yield
    except AuthError as e:
        raise BackendError(f"{denied}: {first_line(e.message)}") from e
    except ServiceUnavailable as e:
        raise BackendError(f"neo4j {op} failed: no server reachable at {uri}: {_reason(e)}") from e
    except Neo4jError as e:
        code = e.code or ""
        if code.removeprefix(SECURITY) in AUTH_FAILURES:  # e.g. rate limited
            raise BackendError(f"{denied}: {first_line(e.message)}") from e
        if code == ACCESS_MODE:
            raise ReadOnlyError(
                f"neo4j {op} failed: the statement writes, but runs in a read transaction"
            ) from e
        raise BackendError(f"neo4j {op} failed: {code}: {first_line(e.message)}") from e
    except DriverError as e:
        raise BackendError(f"neo4j {op} failed: {first_line(e)}") from e
