"""Entity-name vectors in the embedded graph's file (``graphmem/stores/name_vectors.py``):
what float16 does to cosines, and what exact scoring costs in one big scope.

    python benchmarks/probe_name_vectors.py --graph <data_dir>/graph.sqlite   # float16
    python benchmarks/probe_name_vectors.py --sizes 1000 10000 50000          # big scopes

* **float16**: the distinct names of the named entities of a data dir's graph, embedded as the
  reads embed them (query embeddings), compared pairwise in float32 and with the stored side
  in float16: the largest and the root-mean-square change of a cosine, how many pairs change
  sides of the entity-merge threshold and of ``similar_names`` thresholds, how many names get
  another best match.
* **big scopes**: one scope of N names (random unit vectors): the first query (which reads the
  scope from the file), a query of 1 and of 5 names, a read of 5 vectors by id, a write of one
  name, and the matrix kept in memory. Wall and CPU time (run it with
  ``OPENBLAS_NUM_THREADS=1`` on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graphmem import Config
from graphmem.embed import OnnxEmbedder
from graphmem.models import Entity, FactRecord, GraphBatch, Scope, stable_id
from graphmem.protocols import raw_threshold
from graphmem.stores.name_vectors import GraphNameVectors, decode, encode
from graphmem.stores.networkx_store import NetworkXGraphStore


def float16(graph: Path, limit: int) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{graph}?mode=ro", uri=True)
    rows = db.execute("SELECT DISTINCT name FROM entities WHERE type != 'Concept'").fetchall()
    names = sorted(n for (n,) in rows)
    rng = np.random.default_rng(0)
    pick = [names[i] for i in rng.choice(len(names), size=min(limit, len(names)), replace=False)]
    cfg = Config.load()
    emb = OnnxEmbedder(cfg.model_dir(), name=cfg.embed_model)
    v32 = emb.embed(pick, query=True).astype(np.float32)
    v32 /= np.linalg.norm(v32, axis=1, keepdims=True)
    v16 = decode([encode(v) for v in v32])
    thresholds = {"entity_merge_threshold 0.93": raw_threshold(0.93, emb.floor)}
    thresholds |= {f"similar_names {t}": raw_threshold(t, emb.floor) for t in (0.5, 0.7, 0.9)}
    worst, pairs, squares, other_best = 0.0, 0, 0.0, 0
    flips = dict.fromkeys(thresholds, 0)
    for start in range(0, len(pick), 1000):
        exact = v32[start : start + 1000] @ v32.T
        stored = v32[start : start + 1000] @ v16.T  # a float32 query, float16 names
        for m in (exact, stored):
            np.fill_diagonal(m[:, start : start + 1000], -1.0)
        delta = np.abs(stored - exact)
        worst = max(worst, float(delta.max()))
        pairs, squares = pairs + delta.size, squares + float((delta**2).sum())
        other_best += int((exact.argmax(1) != stored.argmax(1)).sum())
        for key, t in thresholds.items():
            flips[key] += int(((exact >= t) != (stored >= t)).sum())
    return {
        "model": cfg.embed_model,
        "names": len(pick),
        "pairs": pairs,
        "max_abs_change": worst,
        "rms_change": (squares / pairs) ** 0.5,
        "names_with_another_best_match": other_best,
        "raw_thresholds": thresholds,
        "pairs_changing_sides": flips,
    }


def _clock(fn: Callable[[], Any], n: int = 1) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000


def big_scope(size: int, rng: np.random.Generator) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="graphmem-names-"))
    graph = NetworkXGraphStore(root / "graph.sqlite")
    store = GraphNameVectors(graph, "probe")
    scope = Scope("big")
    vecs = rng.standard_normal((size, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [stable_id("big", str(i)) for i in range(size)]
    for start in range(0, size, 5000):
        ents = tuple(Entity(i, i, "Thing", scope) for i in ids[start : start + 5000])
        graph.write(GraphBatch(entities=ents))
        store.upsert([FactRecord(e.id, e.name, scope) for e in ents], vecs[start : start + 5000])
    store.close()
    one, five = vecs[:1] + 0.01, vecs[:5] + 0.01
    out: dict[str, Any] = {}
    for label, fn, n in (
        ("first_query", lambda: store.nearest(scope, one, 1), 1),
        ("query_1_name", lambda: store.nearest(scope, one, 1), 20),
        ("query_5_names", lambda: store.nearest(scope, five, 1), 20),
        ("fetch_5_by_id", lambda: store.fetch(ids[:5], scope), 20),
    ):
        wall, cpu = _clock(fn, n)
        out[label] = {"wall_ms": round(wall, 2), "cpu_ms": round(cpu, 2)}
    new = Entity(stable_id("big", "new"), "new", "Thing", scope)
    graph.write(GraphBatch(entities=(new,)))
    wall, cpu = _clock(lambda: store.upsert([FactRecord(new.id, "new", scope)], vecs[:1]), 5)
    out["write_1_name"] = {"wall_ms": round(wall, 2), "cpu_ms": round(cpu, 2)}
    out["matrix_mb"] = round(store.cached_bytes() / 2**20, 1)
    store.close()
    graph.close()
    out["file_mb"] = round(sum(f.stat().st_size for f in root.iterdir()) / 2**20, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--graph", type=Path, help="a data dir's graph.sqlite: the float16 probe")
    ap.add_argument("--names", type=int, default=6000, help="names compared at most")
    ap.add_argument("--sizes", type=int, nargs="*", default=[], help="big-scope sizes")
    args = ap.parse_args()
    report: dict[str, Any] = {"blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
    if args.graph:
        report["float16"] = float16(args.graph, args.names)
    rng = np.random.default_rng(0)
    report["big_scope"] = {n: big_scope(n, rng) for n in args.sizes}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
