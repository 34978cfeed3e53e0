"""`graphmem demo`: a scripted multi-session conversation on the embedded default, offline."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from .config import Config
from .memory import Memory

SESSIONS: list[tuple[str, str, str]] = [
    (
        "alice",
        "2024-03-01",
        "Hi! I live in Hamburg and I love sushi. My manager Bob works at Acme Robotics.",
    ),
    ("alice", "2024-03-01", "Acme Robotics is based in Berlin. Carol is on my team."),
    ("bob", "2024-03-02", "I live in Munich. My favorite food is pizza."),
    ("alice", "2024-05-10", "Carol knows Dave Kim. Dave Kim is the client from Globex."),
    ("alice", "2024-06-20", "I moved to Berlin last week. I don't like sushi anymore."),
    ("bob", "2024-06-21", "Alice visited Globex in Zurich."),
]
QUESTIONS: list[tuple[str, str, str | None]] = [  # (user, question, as of)
    ("alice", "In which city is the company my manager works for based?", None),
    ("alice", "Who on my team knows the client?", None),
    ("alice", "Where do I live?", None),
    ("alice", "Where do I live?", "2024-04-01"),
    ("bob", "Where do I live?", None),
]


def run(console: Console, data_dir: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="graphmem-demo-") as tmp:
        config = Config.load({"data_dir": data_dir or Path(tmp), "extractor": "offline"})
        with Memory(config) as m:
            _play(console, m)


def _play(console: Console, m: Memory) -> None:
    start = time.perf_counter()
    for user, day, text in SESSIONS:
        out = m.add(text, user_id=user, timestamp=day)
        console.print(Panel(text, title=f"{user} · {day}", expand=False))
        for r in out["results"]:
            colour = {"ADD": "green", "UPDATE": "yellow", "DELETE": "red", "NONE": "dim"}[
                r["event"]
            ]
            label = "INVALIDATED" if r["event"] == "DELETE" else r["event"]
            console.print(f"  [{colour}]{label:11}[/{colour}] {r['memory']}")
        for rel in out["relations"]["invalidated"]:
            console.print(
                f"  [red]edge invalidated[/red] {rel['source']} "
                f"-[{rel['relationship']}]-> {rel['target']}"
            )
    for user in ("alice", "bob"):
        table = Table(
            "memory", "valid from", "invalid at", title=f"What graphmem remembers about {user}"
        )
        for r in m.get_all(user_id=user, include_invalid=True)["results"]:
            style = "dim strike" if r["invalid_at"] else ""
            table.add_row(
                r["memory"], (r["valid_from"] or "")[:10], (r["invalid_at"] or "")[:10], style=style
            )
        console.print(table)
    for user, q, as_of in QUESTIONS:
        res = m.search(q, user_id=user, limit=3, as_of=as_of)
        title = f"{user} asks: {q}" + (f" (as of {as_of})" if as_of else "")
        table = Table("score", "dense", "graph", "memory", "path", title=title)
        for r in res["results"]:
            parts = r["score_parts"]
            table.add_row(
                f"{r['score']:.3f}",
                f"{parts['dense']:.3f}",
                f"{parts['graph']:.3f}",
                r["memory"],
                "\n".join(r["paths"]),
            )
        console.print(table)
    console.print(
        f"[bold]demo finished in {time.perf_counter() - start:.1f}s, offline, no LLM[/bold]"
    )
