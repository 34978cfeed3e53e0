"""Cypher text lives in ``cypher/*.cypher`` files at the repository top level; this loads it.

``load("store/write_entities")`` reads ``cypher/store/write_entities.cypher``. The directory
can be moved with ``GRAPHMEM_CYPHER_DIR`` (read on every call, so tests and deployments can
point elsewhere); file contents are cached per path.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from ..errors import ConfigError

ENV_DIR = "GRAPHMEM_CYPHER_DIR"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "cypher"
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


def cypher_dir() -> Path:
    """Where the ``.cypher`` files are: ``$GRAPHMEM_CYPHER_DIR`` or ``<repo>/cypher``."""
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else DEFAULT_DIR


def load(name: str) -> str:
    """The text of ``cypher/<name>.cypher`` (``name`` like ``"store/write_entities"``)."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid Cypher file name: {name!r}")
    return _read(cypher_dir() / f"{name}.cypher")


def statements(name: str) -> list[str]:
    """The ``;``-separated statements of a file (for schema scripts), without ``//`` comments."""
    lines = [ln for ln in load(name).splitlines() if not ln.strip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@functools.cache
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"cannot read Cypher file {path} (set {ENV_DIR}?): {e}") from e
