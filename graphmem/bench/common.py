"""Shared pieces of the benchmark runners: a fresh offline ``Memory``, timing, progress."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..config import Config
from ..memory import Memory
from ..retrieve import PRESETS
from .datasets import BenchError

console = Console(stderr=True)
METHODS = ("bm25", "dense", "fusion", "hybrid")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )


def load() -> list[float]:
    """The 1-, 5- and 15-minute load averages (other processes share the 2 cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "load": load()}


def count_tokens(text: str) -> int:
    """Tokens as words and single punctuation marks (``\\w+|[^\\w\\s]``): a model-free
    stand-in for an LLM tokenizer (BPE counts run somewhat higher on rare words)."""
    return len(_TOKEN.findall(text))


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency(ms: list[float]) -> dict[str, float]:
    return {
        "search_ms_p50": round(percentile(ms, 0.5), 2),
        "search_ms_p95": round(percentile(ms, 0.95), 2),
    }


def dedupe(items: Iterable[str]) -> list[str]:
    """First occurrence of each item, in order."""
    return list(dict.fromkeys(items))


def available(methods: Iterable[str]) -> tuple[list[str], list[str]]:
    """(presets this graphmem has, presets it does not have), in the order asked."""
    methods = dedupe(methods)
    return [m for m in methods if m in PRESETS], [m for m in methods if m not in PRESETS]


def parse_methods(text: str) -> list[str]:
    methods = dedupe(m.strip() for m in text.split(",") if m.strip())
    if not methods:
        raise BenchError("--methods needs at least one search preset")
    return methods


@contextmanager
def fresh_memory(work_dir: Path | None, tag: str, keep: bool = False) -> Iterator[Memory]:
    """An offline ``Memory`` in a new temporary data dir, warmed up (spaCy, ONNX, Chroma
    loaded) in a scope the benchmark never reads, so timings exclude model loading."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"graphmem-bench-{tag}-", dir=work_dir))
    config = Config.load({"data_dir": root, "extractor": "offline"})
    mem = Memory(config)
    try:
        mem.add("Warm Up works at Nowhere Incorporated in Springfield.", user_id="__warmup__")
        mem.search("Where does Warm Up work?", user_id="__warmup__", limit=5, config="dense")
        yield mem
    finally:
        mem.close()
        if keep:
            console.print(f"kept data dir {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def source_title(source: dict[str, Any]) -> str | None:
    title = source.get("title") or source.get("name")
    return str(title) if title else None


def source_lists(res: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The ranked passages of a search: the top-level ``sources`` when graphmem returns
    them, else the sources of the ranked facts in order. The flag says which."""
    top = res.get("sources")
    if isinstance(top, list):
        return top, True
    return [s for r in res.get("results", []) for s in r.get("sources", [])], False
