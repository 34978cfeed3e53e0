"""Neo4j graph store benchmark (needs ``bash scripts/neo4j.sh start``).

1. **Write throughput**: the same entities and relations (each relation with its fact text and
   two mentions) written to :class:`Neo4jGraphStore` batched - ``write`` with ``--batch``
   relations per ``GraphBatch``, i.e. a few UNWIND statements in one transaction per batch -
   and per row - one ``write`` (one transaction) per entity and per relation. Both in one run,
   each into its own fresh scope; the ratio is rows/s batched over rows/s per row.
2. **Search latency** of ``Memory.search`` (presets ``hybrid`` and ``dense``, ``limit=10``)
   with the graph in Neo4j vs in the embedded NetworkX store, on the same ``--facts``
   synthetic facts (``corpus.build_corpus``). The corpus is loaded *directly through the
   stores*, not through ``Memory.add`` (whose ~20 facts/s would take ~9 min per backend): the
   spaCy offline extractor distils each 10-sentence document, entities are resolved by
   normalised name per user (the ids ``Memory.add`` would give; no embedding-based merging and
   no reconciliation), facts and entity names are embedded (default model) into one Chroma store
   shared by both ``Memory`` objects, and each document's ``GraphBatch`` (what one ``add``
   writes) is written to both graph stores. Queries alternate backend and preset order.

    python benchmarks/bench_neo4j.py --facts 10000 --queries 200 \
        --out benchmarks/results/neo4j.json

Writes the JSON to ``--out`` and a Markdown table next to it (same stem, ``.md``). Only the
benchmark's own scopes are written and deleted (never ``reset``: the server may be shared).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
from bench_core import percentile
from corpus import USERS, build_corpus, documents, queries_for

from graphmem import Config, Memory
from graphmem.bench.common import console
from graphmem.bench.common import load as load_average
from graphmem.bench.common import progress as bar
from graphmem.embed import OnnxEmbedder
from graphmem.extract import SpacyExtractor
from graphmem.models import (
    USER_ENTITY,
    Entity,
    FactRecord,
    GraphBatch,
    Relation,
    Scope,
    Source,
    entity_label,
    fact_id,
    norm_name,
    relation_type,
    stable_id,
)
from graphmem.prompts import Extraction
from graphmem.resolve import user_entity
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.neo4j_store import Neo4jGraphStore
from graphmem.stores.networkx_store import NetworkXGraphStore

RELATIONS = ("KNOWS", "WORKS_AT", "LIVES_IN", "LIKES", "MANAGES", "VISITED", "BASED_IN", "OWNS")
TYPES = ("Person", "Organization", "Location", "Concept")
PRESETS = ("hybrid", "dense")


def load() -> dict[str, Any]:
    out = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"uptime": out, "load": load_average()}


def neo4j_store(config: Config) -> Neo4jGraphStore:
    secret = config.neo4j_password.get_secret_value()
    store = Neo4jGraphStore(config.neo4j_uri, config.neo4j_user, secret, config.neo4j_database)
    store.setup()
    return store


def chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# -- 1. write throughput ---------------------------------------------------------------------
@dataclass
class WriteSet:
    """Synthetic entities and relations of one scope; each relation has its own fact."""

    entities: list[Entity]
    relations: list[Relation]

    @classmethod
    def make(cls, scope: Scope, n_entities: int, n_relations: int, seed: int = 0) -> WriteSet:
        rng, at = random.Random(seed), datetime(2024, 1, 1, tzinfo=UTC)
        ents = [
            Entity(stable_id(scope.key, f"e{i}"), f"Entity {i}", rng.choice(TYPES), scope, (), at)
            for i in range(n_entities)
        ]
        rels = []
        for i in range(n_relations):
            a, b = rng.sample(ents, 2)
            fid, rel = f"{scope.user_id}.f{i}", rng.choice(RELATIONS)
            rid = stable_id(fid, a.id, rel, b.id)
            rels.append(Relation(rid, a.id, rel, b.id, fid, scope, at, None, at))
        return cls(ents, rels)

    @property
    def rows(self) -> int:
        return len(self.entities) + len(self.relations)

    @staticmethod
    def relation_batch(rels: list[Relation]) -> GraphBatch:
        return GraphBatch(
            relations=tuple(rels),
            mentions=tuple((r.fact_id, e) for r in rels for e in (r.source_id, r.target_id)),
            facts=tuple((r.fact_id, f"{r.source_id} {r.relation} {r.target_id}") for r in rels),
        )

    def batched(self, size: int) -> Iterator[GraphBatch]:
        for ents in chunks(self.entities, size):
            yield GraphBatch(entities=tuple(ents))
        for rels in chunks(self.relations, size):
            yield self.relation_batch(rels)

    def per_row(self) -> Iterator[GraphBatch]:
        for e in self.entities:
            yield GraphBatch(entities=(e,))
        for r in self.relations:
            yield self.relation_batch([r])


def write_run(store: Neo4jGraphStore, scope: Scope, mode: str, args: argparse.Namespace) -> float:
    """Seconds to write a fresh ``WriteSet`` in ``scope`` (deleted afterwards) in ``mode``."""
    ws = WriteSet.make(scope, args.entities, args.relations)
    batches = list(ws.batched(args.batch) if mode == "batched" else ws.per_row())
    try:
        return timed_writes(store, batches, f"writes {mode} ({len(batches)} transactions)")
    finally:
        store.delete_scope(scope)


def bench_writes(store: Neo4jGraphStore, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """Batched ``--repeat`` times (median), then per row once: the same rows, a fresh scope
    each time, after an untimed warm-up that writes a small set both ways (plans every
    statement) and three full batched runs (a fresh server's JIT otherwise makes the first
    batched runs 2–3× slower: 2.5, 0.95, 0.91, … s; after one warm-up run they still fell
    1.09, 1.06, 0.93, 0.75, 0.70 s, and settle near 0.55 s). Batched runs take ~1 s, so they
    are repeated; per row takes ~20 s."""
    warm = WriteSet.make(Scope(user_id=f"bench-w-{tag}-warmup"), 40, 2 * len(RELATIONS) * 4)
    for batches in (warm.batched(args.batch), warm.per_row()):
        timed_writes(store, list(batches), "writes warm-up")
        store.delete_scope(warm.entities[0].scope)
    for i in range(3):
        write_run(store, Scope(user_id=f"bench-w-{tag}-warm-batched-{i}"), "batched", args)
    rows = args.entities + args.relations
    transactions = math.ceil(args.entities / args.batch) + math.ceil(args.relations / args.batch)
    batched = [
        write_run(store, Scope(user_id=f"bench-w-{tag}-batched-{i}"), "batched", args)
        for i in range(args.repeat)
    ]
    per_row = write_run(store, Scope(user_id=f"bench-w-{tag}-per-row"), "per_row", args)
    out: dict[str, Any] = {
        "entities": args.entities,
        "relations": args.relations,
        "batch_size": args.batch,
        "per_row": _write_stats(rows, rows, [per_row]),
        "batched": _write_stats(rows, transactions, batched),
    }
    out["ratio"] = round(out["batched"]["rows_per_s"] / out["per_row"]["rows_per_s"], 1)
    return out


def _write_stats(rows: int, transactions: int, seconds: list[float]) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "rows": rows,
        "transactions": transactions,
        "runs": [round(x, 3) for x in seconds],
        "seconds": round(median, 3),
        "rows_per_s": round(rows / median, 1),
    }


# -- 2. the 10k-fact corpus, loaded through the stores ---------------------------------------
@dataclass
class Corpus:
    facts: list[FactRecord] = field(default_factory=list)
    batches: list[GraphBatch] = field(default_factory=list)
    entities: dict[str, Entity] = field(default_factory=dict)


class Loader:
    """What ``Memory.add`` would write for each document, minus reconciliation and merging."""

    def __init__(self) -> None:
        self.corpus = Corpus()
        self.start = datetime.now(UTC)

    def names(self, scope: Scope, ex: Extraction) -> dict[str, Entity]:
        user = user_entity(scope)
        out = {USER_ENTITY.lower(): user, norm_name(user.name): user, "i": user, "me": user}
        for x in ex.entities:
            if x.name.lower() == USER_ENTITY.lower():
                continue
            eid = stable_id(scope.key, norm_name(x.name))
            ent = self.corpus.entities.get(eid) or Entity(
                eid, x.name, entity_label(x.type), scope, tuple(a for a in x.aliases if a != x.name)
            )
            self.corpus.entities[eid] = ent
            for n in (x.name, *x.aliases):
                out.setdefault(n.lower(), ent)
        return out

    def add(self, user: str, text: str, ex: Extraction) -> None:
        scope = Scope(user_id=user)
        names = self.names(scope, ex)
        at = self.start + timedelta(seconds=len(self.corpus.batches))  # one add per second
        src = Source(str(uuid.uuid4()), scope, text, "user", None, at)
        recs, rels, mentions = [], [], []
        for f in (f for f in ex.facts if f.text.strip()):
            rec = FactRecord(fact_id(scope), f.text, scope, {}, at, source_ids=(src.id,))
            recs.append(rec)
            mentions += [(rec.id, names[n.lower()].id) for n in f.entities if n.lower() in names]
            for r in f.relations:
                a, b = names.get(r.source.lower()), names.get(r.target.lower())
                if a is None or b is None or a.id == b.id:
                    continue
                try:
                    rel = relation_type(r.relation)
                except ValueError:  # as Memory.add: skip a relation with an unusable type
                    continue
                rid = stable_id(rec.id, a.id, rel, b.id)
                rels.append(Relation(rid, a.id, rel, b.id, rec.id, scope, None, None, at))
                mentions += [(rec.id, a.id), (rec.id, b.id)]
        used = {e for _, e in mentions}
        ents = [e for e in {*names.values()} if e.id in used]
        self.corpus.facts += recs
        self.corpus.batches.append(
            GraphBatch(
                tuple(sorted(ents, key=lambda e: e.id)),
                tuple(rels),
                tuple(dict.fromkeys(mentions)),
                (src,),
                tuple((r.id, src.id) for r in recs),
                tuple((r.id, r.text) for r in recs),
            )
        )


def extract(docs: list[tuple[str, str, int]], extractor: SpacyExtractor) -> Corpus:
    loader = Loader()
    with bar() as progress:
        task = progress.add_task("extract (spaCy)", total=len(docs))
        for user, text, _ in docs:
            loader.add(user, text, extractor.extract([{"role": "user", "content": text}]))
            progress.advance(task)
    return loader.corpus


def embed(embedder: OnnxEmbedder, texts: list[str], label: str) -> np.ndarray[Any, Any]:
    parts = []
    with bar() as progress:
        task = progress.add_task(label, total=len(texts))
        for chunk in chunks(texts, 512):
            parts.append(embedder.embed(chunk))
            progress.advance(task, len(chunk))
    return np.concatenate(parts).astype(np.float32)


def upsert(store: ChromaVectorStore, recs: list[FactRecord], vecs: np.ndarray[Any, Any]) -> None:
    for i in range(0, len(recs), 2000):
        store.upsert(recs[i : i + 2000], vecs[i : i + 2000])


def timed_writes(store: Any, batches: list[GraphBatch], label: str) -> float:
    """Seconds to ``write`` every batch, one call (one transaction) each."""
    with bar() as progress:
        task = progress.add_task(label, total=len(batches))
        start = time.perf_counter()
        for b in batches:
            store.write(b)
            progress.advance(task)
        return time.perf_counter() - start


# -- 2. search latency -----------------------------------------------------------------------
def time_searches(
    backends: dict[str, Memory], qs: list[tuple[str, str]], warmup: int
) -> tuple[dict[str, Any], float]:
    """Latency per backend and preset; backend and preset order alternate per query."""
    times: dict[tuple[str, str], list[float]] = {(b, p): [] for b in backends for p in PRESETS}
    same = 0
    names = list(backends)
    with bar() as progress:
        task = progress.add_task("search", total=len(qs))
        for i, (user, q) in enumerate(qs):
            top: dict[str, list[str]] = {}
            for b in names if i % 2 else names[::-1]:
                for p in PRESETS if (i // 2) % 2 else PRESETS[::-1]:
                    t0 = time.perf_counter()
                    res = backends[b].search(q, user_id=user, limit=10, config=p)
                    if i >= warmup:
                        times[b, p].append((time.perf_counter() - t0) * 1000)
                    if p == "hybrid":
                        top[b] = [r["id"] for r in res["results"]]
            same += i >= warmup and top[names[0]] == top[names[1]]
            progress.advance(task)
    stats = {b: {p: summary(times[b, p]) for p in PRESETS} for b in names}
    return stats, same / max(1, len(qs) - warmup)


def summary(xs: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(xs, 0.5), 2),
        "p95_ms": round(percentile(xs, 0.95), 2),
        "mean_ms": round(statistics.fmean(xs), 2),
        "queries": len(xs),
    }


def bench_search(neo: Neo4jGraphStore, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    users = [f"bench-s-{tag}-{u}" for u in USERS]
    corpora = build_corpus(args.facts, users=users)
    root = Path(tempfile.mkdtemp(prefix="graphmem-bench-neo4j-"))
    # read-only: the corpus is written to the stores directly; the two only search, sharing
    # the embedded Chroma stores (an owner would lock the data dir)
    config = Config.load({"data_dir": root, "extractor": "offline", "read_only": True})
    extractor = SpacyExtractor(config.spacy_model)
    embedder = OnnxEmbedder(config.model_dir(), name=config.embed_model)
    nx = NetworkXGraphStore(root / "graph.sqlite")
    cache = config.vector_cache_size  # as the default stack builds them
    vectors = ChromaVectorStore(root / "chroma", None, 8000, config.collection, cache_size=cache)
    entity_vectors = ChromaVectorStore(
        root / "chroma", None, 8000, config.collection + "_entities", cache_size=cache
    )
    try:
        out = load_corpus(corpora, extractor, embedder, (vectors, entity_vectors), nx, neo)
        qs = queries_for(corpora, args.queries + args.warmup)
        parts = {"embedder": embedder, "offline": extractor, "vectors": vectors}
        mems = {
            name: Memory(config, graph=graph, entity_vectors=entity_vectors, **parts)
            for name, graph in (("networkx", nx), ("neo4j", neo))
        }
        out["load_before_search"] = load()
        out["search"], out["hybrid_top10_identical"] = time_searches(mems, qs, args.warmup)
        out["load_after_search"] = load()
        return out
    finally:
        for u in users:
            neo.delete_scope(Scope(user_id=u))
        nx.close()
        shutil.rmtree(root, ignore_errors=True)


def load_corpus(
    corpora: Any,
    extractor: SpacyExtractor,
    embedder: OnnxEmbedder,
    vector_stores: tuple[ChromaVectorStore, ChromaVectorStore],
    nx: NetworkXGraphStore,
    neo: Neo4jGraphStore,
) -> dict[str, Any]:
    start = time.perf_counter()
    corpus = extract(documents(corpora, 10), extractor)
    vectors, entity_vectors = vector_stores
    for store in (vectors, entity_vectors, nx):
        store.setup()
    upsert(vectors, corpus.facts, embed(embedder, [f.text for f in corpus.facts], "embed facts"))
    ents = list(corpus.entities.values())
    records = [FactRecord(e.id, e.name, e.scope, {"type": e.type}, e.created_at) for e in ents]
    upsert(entity_vectors, records, embed(embedder, [e.name for e in ents], "embed entities"))
    nx_s = timed_writes(nx, corpus.batches, "graph → networkx")
    neo_s = timed_writes(neo, corpus.batches, "graph → neo4j")
    return {
        "facts": len(corpus.facts),
        "documents": len(corpus.batches),
        "entities": len(ents),
        "relations": sum(len(b.relations) for b in corpus.batches),
        "load_seconds": round(time.perf_counter() - start, 1),
        "embed_model": embedder.name,
        "graph_write_seconds": {"networkx": round(nx_s, 2), "neo4j": round(neo_s, 2)},
    }


# -- report ----------------------------------------------------------------------------------
def markdown(r: dict[str, Any]) -> str:
    w, s = r["writes"], r["search"]
    lines = [
        "# graphmem Neo4j benchmark",
        "",
        f"Machine: {r['machine']['cores']} cores; `uptime` at start: `{r['start']['uptime']}`; "
        f"at end: `{r['end']['uptime']}`. Neo4j {r['neo4j_version']} (local, "
        f"`scripts/neo4j.sh`), driver {r['driver_version']}. Total runtime "
        f"{r['seconds']:.0f} s. Numbers from one run on a shared machine.",
        "",
        "## Writes: batched vs per row",
        "",
        f"{w['entities']} entities + {w['relations']} relations (each with its fact text and "
        f"2 mentions) through `Neo4jGraphStore.write`; batched = {w['batch_size']} rows per "
        "`GraphBatch` (UNWIND, one transaction per batch; median of "
        f"{len(w['batched']['runs'])} runs: {w['batched']['runs']} s), per row = one `write` "
        "(one transaction) per entity / relation. Same rows, a fresh scope for every run, "
        "after an untimed warm-up that plans every statement and writes three full batched runs.",
        "",
        "| mode | rows | transactions | seconds | rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in ("batched", "per_row"):
        m = w[mode]
        lines.append(
            f"| {mode.replace('_', ' ')} | {m['rows']} | {m['transactions']} | "
            f"{m['seconds']:.2f} | {m['rows_per_s']:.0f} |"
        )
    lines += ["", f"**Batched / per row: {w['ratio']:.1f}×** (target ≥ 20×).", ""]
    lines += search_markdown(s)
    return "\n".join(lines) + "\n"


def search_markdown(s: dict[str, Any]) -> list[str]:
    lines = [
        f"## Search latency: Neo4j vs embedded NetworkX ({s['facts']} facts)",
        "",
        f"{s['facts']} facts from {s['documents']} synthetic documents of 5 users "
        f"({s['entities']} entities, {s['relations']} relations), loaded directly through the "
        f"stores in {s['load_seconds']:.0f} s (spaCy extraction, "
        f"{s.get('embed_model', 'all-minilm-l6-v2')} embeddings into one "
        "Chroma store shared by both backends, one `GraphBatch` per document written to each "
        f"graph store: NetworkX {s['graph_write_seconds']['networkx']:.1f} s, Neo4j "
        f"{s['graph_write_seconds']['neo4j']:.1f} s). `Memory.search(limit=10)`; the backend "
        "and preset order alternate per query.",
        "",
        "| graph store | preset | p50 ms | p95 ms | mean ms | queries |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend, presets in s["search"].items():
        for preset, x in presets.items():
            lines.append(
                f"| {backend} | {preset} | {x['p50_ms']:.1f} | {x['p95_ms']:.1f} | "
                f"{x['mean_ms']:.1f} | {x['queries']} |"
            )
    lines += [
        "",
        f"Hybrid top-10 identical on both backends for {s['hybrid_top10_identical']:.0%} of the "
        "queries (both stores spend the walk's relation budget the same way: strongest start "
        "entities first, then oldest relations). "
        f"Load average before / after the queries: {s['load_before_search']['load']} / "
        f"{s['load_after_search']['load']}.",
    ]
    return lines


def versions(config: Config) -> tuple[str, str]:
    secret = config.neo4j_password.get_secret_value()
    with neo4j.GraphDatabase.driver(config.neo4j_uri, auth=(config.neo4j_user, secret)) as d:
        return str(d.get_server_info().agent), neo4j.__version__


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entities", type=int, default=1000)
    ap.add_argument("--relations", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=500, help="rows per batched write")
    ap.add_argument("--repeat", type=int, default=5, help="batched runs (the median counts)")
    ap.add_argument("--facts", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/neo4j.json"))
    args = ap.parse_args(argv)

    started, tag = time.perf_counter(), uuid.uuid4().hex[:6]
    report: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "start": load()}
    console.print(f"uptime: {report['start']['uptime']}")
    neo = neo4j_store(Config.load())
    try:
        report["neo4j_version"], report["driver_version"] = versions(Config.load())
        report["writes"] = bench_writes(neo, args, tag)
        console.print(report["writes"])
        report["search"] = bench_search(neo, args, tag)
    finally:
        neo.close()
    report["end"], report["seconds"] = load(), round(time.perf_counter() - started, 1)
    console.print(f"uptime: {report['end']['uptime']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    console.print(markdown(report))


if __name__ == "__main__":
    main()
