"""Fault benchmark of the embedded default: kill -9 during ``add_many``, writes that fail
forever, and hostile input, then count what went wrong. Public API only (``Memory``,
``Config``), the offline extractor, the real embedder.

    python benchmarks/bench_faults.py --rounds 20 --out benchmarks/results/faults.json

Each round starts a writer process that adds documents for one of several users, one
``add`` at a time, printing every id it was given back; the harness kills it with SIGKILL
at a random moment. It then opens the data dir itself (which replays the journal) and
checks:

* **data lost**: an ``add`` that returned, whose memory is not stored (must be 0);
* **divergences**: the stores disagree after recovery: a relation of a memory the vector
  store lacks, a memory with no history, a write still pending (must be 0);
* **leaks**: a search or listing of one user that returns another user's record (must be 0).

Every few rounds the writer also adds for a user whose graph writes always fail (a backend
that refuses a value): those writes must end quarantined, never blocking the others. Between
rounds the harness sends hostile input (surrogates, control characters, non-JSON metadata,
bad filters) that must be refused with a ``GraphMemError`` and change nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graphmem import BackendError, Config, GraphMemError, Memory
from graphmem.bench.common import console
from graphmem.models import Scope

USERS = [f"user{i}" for i in range(4)]
POISON = "poisoned"
CITIES = ["Quito", "Lima", "Oslo", "Kyoto", "Accra", "Porto", "Hanoi", "Perth"]


def document(round_: int, i: int) -> str:
    """A unique, extractable document (a person, a place, an employer)."""
    city = CITIES[(round_ + i) % len(CITIES)]
    return f"Person{round_}x{i} lives in {city}. Person{round_}x{i} works at Firm{i}."


# -- the writer process ----------------------------------------------------------------------
def writer(data_dir: Path, round_: int, docs: int, poison: bool) -> None:
    """Add ``docs`` documents, printing ``ACK <user> <id> <text>`` as each add returns."""
    from graphmem.stores.networkx_store import NetworkXGraphStore

    class Refusing(NetworkXGraphStore):
        def write(self, batch: Any, *args: Any, **kwargs: Any) -> None:
            if any(e.scope.user_id == POISON for e in batch.entities):
                raise BackendError("refused by the backend")
            super().write(batch, *args, **kwargs)

    config = Config.load({"data_dir": data_dir, "extractor": "offline"})
    with Memory(config, graph=Refusing(data_dir / "graph.sqlite")) as m:
        print("READY", flush=True)
        for i in range(docs):
            user = USERS[(round_ + i) % len(USERS)]
            if poison and i % 5 == 4:
                user = POISON
            try:
                out = m.add(document(round_, i), user_id=user)
            except GraphMemError:
                continue
            for r in out["results"]:
                if r["event"] == "ADD":
                    print("ACK", user, r["id"], json.dumps(r["memory"]), flush=True)


# -- hostile input ---------------------------------------------------------------------------
HOSTILE: list[dict[str, Any]] = [
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": "\ud800"}},
    {"messages": "Omar lives in Quito.", "user_id": "h\x1f"},
    {"messages": "Omar lives in Quito \udcff.", "user_id": "h"},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": {1}}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": b"x"}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": "x" * 200_000}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "timestamp": float("nan")},
]


def hostile(m: Memory) -> tuple[int, int]:
    """(calls, refused): every call must be refused with a GraphMemError."""
    refused = 0
    calls: list[Any] = [lambda c=c: m.add(**c) for c in HOSTILE]
    calls += [
        lambda: m.search("x", user_id=USERS[0], filters={1: "x"}),
        lambda: m.search("\ud800", user_id=USERS[0]),
        lambda: m.get("\ud800"),
        lambda: m.delete("x\x00"),
    ]
    for call in calls:
        try:
            call()
        except GraphMemError:
            refused += 1
    return len(calls), refused


# -- checks ------------------------------------------------------------------------------------
def has_history(m: Memory, memory_id: str) -> bool:
    try:
        return bool(m.history(memory_id))
    except GraphMemError:
        return False


def check(m: Memory, acked: dict[str, tuple[str, str]]) -> dict[str, int]:
    lost = divergences = leaks = 0
    stored: dict[str, set[str]] = {}
    for user in [*USERS, POISON]:
        listed = m.get_all(user_id=user, include_invalid=True, limit=100_000)["results"]
        leaks += sum(r.get("user_id") != user for r in listed)
        stored[user] = {r["id"] for r in listed}
        related = {r.fact_id for r in m.parts.graph.relations(Scope(user_id=user))}
        divergences += len(related - stored[user])
        divergences += sum(not has_history(m, r["id"]) for r in listed)
        found = m.search("Where does Person1x1 live?", user_id=user, limit=20)
        leaks += sum(r["user_id"] != user for r in (*found["results"], *found["sources"]))
    for memory_id, (user, _text) in acked.items():
        lost += memory_id not in stored[user]
    divergences += len(m.health()["pending"])
    return {"lost": lost, "divergences": divergences, "leaks": leaks}


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="graphmem-faults-"))
    acked: dict[str, tuple[str, str]] = {}
    totals = {"rounds": 0, "kills": 0, "acked_adds": 0, "hostile_calls": 0, "hostile_refused": 0}
    totals.update({"lost": 0, "divergences": 0, "leaks": 0, "quarantined": 0})
    for r in range(args.rounds):
        poison = r % 3 == 2
        cmd = [sys.executable, __file__, "--writer", str(data_dir), str(r), str(args.docs)]
        proc = subprocess.Popen(
            [*cmd, *(["--poison"] if poison else [])],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # READY: models loaded, the store is open
        time.sleep(rng.uniform(0.0, args.kill_within))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            if line.startswith("ACK "):
                _, user, memory_id, text = line.split(" ", 3)
                acked[memory_id] = (user, json.loads(text))
        config = Config.load({"data_dir": data_dir, "extractor": "offline"})
        with Memory(config) as m:
            calls, refused = hostile(m)
            found = check(m, acked)
            quarantined = len(m.health()["quarantined"])
        totals["rounds"] += 1
        totals["kills"] += killed
        totals["hostile_calls"] += calls
        totals["hostile_refused"] += refused
        for key in ("lost", "divergences", "leaks"):
            totals[key] += found[key]
        totals["quarantined"] = quarantined
        totals["acked_adds"] = len(acked)
        console.print(f"round {r}: killed={killed} {found} quarantined={quarantined}")
    return {"params": vars(args) | {"out": str(args.out)}, "totals": totals}


def markdown(report: dict[str, Any]) -> str:
    t = report["totals"]
    rows = [
        ("rounds (writer processes)", t["rounds"]),
        ("killed with SIGKILL mid-write", t["kills"]),
        ("adds acknowledged", t["acked_adds"]),
        (
            "hostile calls / refused with a GraphMemError",
            f"{t['hostile_calls']} / {t['hostile_refused']}",
        ),
        ("writes quarantined (a backend refusing one user)", t["quarantined"]),
        ("**data lost** (must be 0)", t["lost"]),
        ("**divergences** (must be 0)", t["divergences"]),
        ("**cross-scope leaks** (must be 0)", t["leaks"]),
    ]
    lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "# Fault benchmark\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--writer":
        writer(Path(argv[1]), int(argv[2]), int(argv[3]), "--poison" in argv)
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--docs", type=int, default=40, help="documents each writer adds")
    ap.add_argument("--kill-within", type=float, default=8.0, help="seconds after READY")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/faults.json"))
    args = ap.parse_args(argv)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md)
    console.print(md)
    t = report["totals"]
    if t["lost"] or t["divergences"] or t["leaks"] or t["hostile_refused"] != t["hostile_calls"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
