"""The CLI through typer's runner, on the real embedded default."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from graphmem.cli import app

runner = CliRunner()


def test_add_search_get_all_history_delete(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path)]
    out = runner.invoke(
        app, ["add", "Carol knows Dave. Dave works at Globex.", "--user", "alice", "--json", *d]
    )
    assert out.exit_code == 0, out.output
    ids = [r["id"] for r in json.loads(out.stdout)["results"]]
    out = runner.invoke(app, ["search", "Who does Carol know?", "--user", "alice", "--json", *d])
    assert json.loads(out.stdout)["results"][0]["memory"] == "Carol knows Dave."
    before = ["search", "Who does Carol know?", "--user", "alice", "--json", *d, "--as-of"]
    out = runner.invoke(app, [*before, "2000-01-01"])  # nothing was known then
    assert out.exit_code == 0 and json.loads(out.stdout)["results"] == []
    out = runner.invoke(app, [*before, "yesterday"])
    assert out.exit_code == 2 and "not an ISO-8601 timestamp" in out.stdout
    out = runner.invoke(app, ["get-all", "--user", "alice", "--json", *d])
    assert len(json.loads(out.stdout)["results"]) == 2
    assert runner.invoke(app, ["delete", ids[0], *d]).exit_code == 0
    out = runner.invoke(app, ["history", ids[0], "--json", *d])
    assert [h["event"] for h in json.loads(out.stdout)] == ["ADD", "DELETE"]
    table = runner.invoke(app, ["get-all", "--user", "alice", *d])
    assert "Dave works at Globex." in table.stdout


def test_errors_are_clear(tmp_path: Path) -> None:
    out = runner.invoke(app, ["add", "hello", "--data-dir", str(tmp_path)])
    assert out.exit_code == 2 and "one of user_id" in out.stdout
    out = runner.invoke(app, ["history", "nope", "--data-dir", str(tmp_path)])
    assert out.exit_code == 2 and "no history" in out.stdout


def test_demo_runs(tmp_path: Path) -> None:
    out = runner.invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "INVALIDATED" in out.stdout and "demo finished" in out.stdout
    assert "-[HAS_MANAGER]->" in out.stdout
    as_of = out.stdout[out.stdout.index("(as of 2024-04-01)") :]
    assert "Hamburg" in as_of.split("bob asks")[0]  # where alice lived then
    now = out.stdout.split("alice asks: Where do I live?")[1]  # the question asked today
    assert now.index("I moved to Berlin") < now.index("My manager")
