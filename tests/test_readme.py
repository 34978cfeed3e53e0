"""The README's and the docs' Python examples run as written (docs tested): the Quickstart
also prints what its comments say; every other ```python block of README.md and docs/*.md runs,
page by page in one namespace, unless the line before its fence is ``<!-- no-run -->`` (an
example that needs an LLM, a server or Neo4j)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from graphmem import Memory

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NO_RUN = "<!-- no-run -->"
#: ``# 1.39 {'dense': …}    My manager Bob works at Acme Robotics.  ['alice -[…]-> Bob', …]``
_PRINTED = re.compile(r"^# (-?\d+\.\d+) \{[^}]*\}\s+(.+?)\s{2,}\[", re.M)
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
#: the models the tests use stay configured; every other setting is the documented default
_KEEP = {"GRAPHMEM_EMBED_MODEL", "GRAPHMEM_EMBED_MODEL_DIR", "GRAPHMEM_SPACY_MODEL"}


def quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quickstart") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("\n```", start)]


def examples(path: Path) -> list[tuple[int, str]]:
    """The runnable ```python blocks of a page: (line of the fence, code)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for m in _BLOCK.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() != NO_RUN:
            found.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return found


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture()
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory with the documented defaults: no LLM, no data dir, no servers."""
    for key in [k for k in os.environ if k.startswith("GRAPHMEM_")]:
        if key not in _KEEP:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_quickstart_runs_and_prints_what_it_says(defaults: Path) -> None:
    code = quickstart()
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)  # our own README
    assert (defaults / ".graphmem").is_dir()
    out, res = namespace["out"], namespace["res"]
    assert isinstance(out, dict) and isinstance(res, dict)
    events = [(r["event"], r["memory"]) for r in out["results"]]
    assert events == [("ADD", "I moved to Berlin."), ("DELETE", "I live in Hamburg.")]
    assert out["relations"]["invalidated"] == [
        {"source": "alice", "relationship": "LIVES_IN", "target": "Hamburg"}
    ]
    said = _PRINTED.findall(code)
    assert len(said) == 2
    got = [r["memory"] for r in res["results"]]
    assert got[: len(said)] == [memory for _, memory in said]
    for (score, _), r in zip(said, res["results"], strict=False):
        assert abs(float(score) - r["score"]) < 0.05  # scores as printed, to rounding
    assert "alice -[HAS_MANAGER]-> Bob" in res["results"][0]["paths"]
    assert printed.getvalue().count("\n") == len(res["results"])
    close_memories(namespace)


@pytest.mark.parametrize("page", [p for p in pages() if examples(p)], ids=lambda p: p.name)
def test_examples_run(page: Path, defaults: Path) -> None:
    namespace: dict[str, object] = {}
    blocks = examples(page)
    if page == README:  # the Quickstart has its own test above
        blocks = [(line, code) for line, code in blocks if code.rstrip("\n") != quickstart()]
    for line, code in blocks:
        padded = "\n" * line + code  # tracebacks name the page's own line numbers
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(padded, str(page), "exec"), namespace)  # our own docs
    close_memories(namespace)


def close_memories(namespace: dict[str, object]) -> None:
    """Close every Memory an example left open (its data dir goes with ``tmp_path``)."""
    for value in namespace.values():
        if isinstance(value, Memory):
            value.close()


def test_a_no_run_marker_skips_a_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        f"# t\n\n```python\nran = 1\n```\n\n{NO_RUN}\n```python\nraise SystemExit\n```\n",
        encoding="utf-8",
    )
    assert examples(page) == [(3, "ran = 1\n")]
