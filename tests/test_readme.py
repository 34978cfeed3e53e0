"""The README's Quickstart runs as written, and says what it prints (docs tested)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
#: ``# 1.39 {'dense': …}    My manager Bob works at Acme Robotics.  ['alice -[…]-> Bob', …]``
_PRINTED = re.compile(r"^# (-?\d+\.\d+) \{[^}]*\}\s+(.+?)\s{2,}\[", re.M)


def quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quickstart") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("\n```", start)]


def test_quickstart_runs_and_prints_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("GRAPHMEM_")]:
        if key not in {"GRAPHMEM_EMBED_MODEL", "GRAPHMEM_EMBED_MODEL_DIR", "GRAPHMEM_SPACY_MODEL"}:
            monkeypatch.delenv(key)  # no LLM, no data dir: the defaults the README describes
    monkeypatch.chdir(tmp_path)
    code = quickstart()
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)  # our own README
    assert (tmp_path / ".graphmem").is_dir()
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
