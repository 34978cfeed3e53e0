"""The hybrid retriever: dense + BM25 + personalized PageRank, at two levels (facts and the
sources they came from), fused into one explained ranking. No LLM call."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ..models import FACTS_KEY, TITLE_KEY, FactRecord, Scope, Subgraph, norm_name
from ..protocols import Corpus, Embedder, GraphStore, KeywordIndex, Vector, VectorStore, rescale
from . import graph as G
from . import scoring as S
from .config import SearchConfig
from .hops import bridges, hop_hits
from .link import (
    Linked,
    link,
    link_similar,
    naming_words,
    query_words,
    relation_words,
    without_names,
)
from .scoring import Cands, Hit
from .when import SUPERSEDED, Period, about_the_past, as_of_where, query_period


@dataclass
class Ranking:
    facts: list[Hit]
    sources: list[Hit]
    relations: list[dict[str, Any]]


#: the best sources checked for matching the query through a memory that no longer holds
PAST_MATCH_SOURCES = 5
#: the strongest start entities of a walk without ``user_id`` (an agent's query names "me"
#: in each of its thousand users' scopes): its cost is bounded by these, not by the users
ACROSS_SCOPES_STARTS = 32


@dataclass
class _Walk:
    qg: G.QueryGraph
    sub: Subgraph
    seeds: dict[str, float]
    scores: dict[str, float]
    named: set[str]  # facts of a relation of a query entity that the query names


@dataclass
class Retriever:
    embedder: Embedder
    vectors: VectorStore
    source_vectors: VectorStore
    graph: GraphStore
    keywords: KeywordIndex
    entity_names: VectorStore | None = None  # name vectors: ``similar_names``, hop queries
    #: a point-in-time view: only what held then (``held_at``), superseded since or not
    as_of: datetime | None = None

    def search(
        self,
        query: str,
        scope: Scope,
        limit: int,
        cfg: SearchConfig,
        where: dict[str, Any] | None = None,
    ) -> Ranking:
        k = max(cfg.candidates, limit)
        if self.as_of is not None:
            where = as_of_where(self.as_of, where)
        linked = self._link(query, scope, cfg)
        seeds = linked.seeds
        bare = self._without_speakers(query, linked, scope, cfg)
        facts = self._lexical("facts", bare, scope, cfg, k)
        sources = self._lexical("sources", bare, scope, cfg, k)
        qv = self._query_vector(query, bare, cfg) if cfg.dense_weight > 0 else None
        period = query_period(query) if cfg.time_weight > 0 else None
        if qv is not None:
            self._dense(self.vectors, facts, qv, scope, k, where, self._archive)
            self._dense(self.source_vectors, sources, qv, scope, k, where)
            window = period.where(_slack(cfg)) if period else None
            if window:  # the best facts of the period asked about are candidates too
                self._dense(self.vectors, facts, qv, scope, k, _both(where, window), self._archive)
            held = period.held_where(_slack(cfg)) if period and not self._archive else None
            if held is None and cfg.time_weight > 0 and not self._archive and about_the_past(query):
                held = SUPERSEDED  # "used to", "before": every superseded memory may answer
            if held:  # and so are those that held then, though superseded since
                held = _both(where, held)
                self._dense(self.vectors, facts, qv, scope, limit, held, include_invalid=True)
        walk = (
            self._walk(query, seeds, scope, cfg, facts, sources) if cfg.graph_weight > 0 else None
        )
        if walk is not None and qv is not None:
            self._hops(walk, qv, scope, cfg, sources, k)
        for fid in walk.named if walk is not None else ():
            facts.setdefault(fid, {})["relation"] = 1.0
        fact_graph = _scaled(_nodes(walk, "f:"))
        src_graph = _ranked(_nodes(walk, "s:"), cfg.graph_rank_k, sources, k)
        src_hits = self._rank(
            self.source_vectors, sources, src_graph, qv, scope, cfg, where, k, limit
        )
        inherit = None
        if cfg.source_weight > 0:
            passed = self._matched_by_the_past(src_hits[:PAST_MATCH_SOURCES], qv, scope)
            inherit = S.inheritance(src_hits, passed)
        fact_hits = self._rank(
            self.vectors,
            facts,
            fact_graph,
            qv,
            scope,
            cfg,
            where,
            k,
            limit,
            cfg.redundancy_penalty,
            inherit,
            period,
        )
        top = S.novel_first(fact_hits, cfg.redundancy_penalty, limit)
        if walk is not None:
            _explain(walk, top, src_hits[:limit], sources, cfg)
        relations = _relations(walk, {h.record.id for h in top}, limit) if walk else []
        return Ranking(top, src_hits[:limit], relations)

    # -- candidates --------------------------------------------------------------------------
    @property
    def _archive(self) -> bool:
        """A point-in-time view reads superseded records too."""
        return self.as_of is not None

    def _link(self, query: str, scope: Scope, cfg: SearchConfig) -> Linked:
        """The query's entities: by name, and with ``similar_names`` by name embedding."""
        if cfg.graph_weight <= 0:
            return Linked()
        linked = link(self.graph, scope, query)
        if cfg.similar_names is None or self.entity_names is None:
            return linked
        names, threshold = self.entity_names, cfg.similar_names
        return link_similar(linked, query, scope, self.graph, names, self.embedder, threshold)

    def _without_speakers(self, query: str, linked: Linked, scope: Scope, cfg: SearchConfig) -> str:
        """The query without the names of its speakers: names that title more than
        ``hub_cap`` sources (a speaker titles each of their messages). Every message and fact
        of a speaker carries the name ("Nate: …"), so it matches the content-free ones ("Nate:
        Wow, Joanna!") best and drowns what the question asks (in BM25 too: the shortest
        messages match the name best). The graph still links the speakers."""
        names = sorted({n for ns in linked.names.values() for n in ns})
        if cfg.speaker_blend <= 0 or not names:
            return query
        counts = self.graph.title_counts(scope, names, cfg.hub_cap + 1)
        speakers = [n for n in names if counts.get(n, 0) > cfg.hub_cap]
        return (without_names(query, speakers) or query) if speakers else query

    def _query_vector(self, query: str, bare: str, cfg: SearchConfig) -> Vector:
        """The query's embedding; with speakers named, the blend (``speaker_blend`` to the
        rest, unit length) of the query without their names and the query as written."""
        if bare == query:
            return np.asarray(self.embedder.embed([query], query=True)[0], dtype=np.float32)
        full, masked = self.embedder.embed([query, bare], query=True)
        v = (1 - cfg.speaker_blend) * full + cfg.speaker_blend * masked
        return np.asarray(v / (np.linalg.norm(v) or 1.0), dtype=np.float32)

    def _hops(
        self, walk: _Walk, qv: Vector, scope: Scope, cfg: SearchConfig, sources: Cands, k: int
    ) -> None:
        """Second-hop queries over the sources, one per bridge entity (see ``hops``)."""
        if cfg.hop_queries <= 0 or self.entity_names is None:
            return
        found = bridges(walk.scores, walk.sub.entities, walk.seeds, cfg.hop_queries)
        if not found:
            return
        hits = hop_hits(
            qv, found, scope, self.entity_names, self.source_vectors, k, self.embedder.floor
        )
        for sid, (sim, bridge) in hits.items():
            sources.setdefault(sid, {}).update(hop=sim - cfg.hop_penalty, via=bridge)

    def _lexical(
        self, corpus: Corpus, query: str, scope: Scope, cfg: SearchConfig, k: int
    ) -> Cands:
        if cfg.bm25_weight <= 0:
            return {}
        found = self.keywords.search(corpus, scope, query, k, self._archive)
        return {rid: {"bm25": score} for rid, score in found}

    def _dense(
        self,
        store: VectorStore,
        cands: Cands,
        qv: Vector,
        scope: Scope,
        k: int,
        where: dict[str, Any] | None,
        include_invalid: bool = False,
    ) -> None:
        floor = self.embedder.floor
        for rec, sim in store.query(scope, qv, k, where, include_invalid):
            cands.setdefault(rec.id, {}).update(rec=rec, dense=rescale(sim, floor))

    def _rank(
        self,
        store: VectorStore,
        cands: Cands,
        graph: dict[str, float],
        qv: Vector | None,
        scope: Scope,
        cfg: SearchConfig,
        where: dict[str, Any] | None,
        k: int,
        limit: int,
        penalty: float = 0.0,
        inherit: dict[str, float] | None = None,
        period: Period | None = None,
    ) -> list[Hit]:
        """Add the ``k`` best graph nodes to the candidates, fetch the records (and cosines)
        that candidates found by BM25 or the graph lack, and rank. A candidate that even with
        the best cosine it can have (that of the k-th dense hit, since it is not among them)
        cannot reach the top ``limit`` (as picked by ``scoring.picks`` with ``penalty``) is not
        fetched: the ranking is the same, the reads fewer. What the scope, the filters or
        validity exclude is dropped inside the store. ``inherit``: fact id → the share of the
        best source's score that it inherits from the sources it was derived from. ``period``:
        the period the query asks about (a record valid from within it scores ``time``)."""
        for i in sorted(graph, key=graph.__getitem__, reverse=True)[:k]:
            cands.setdefault(i, {})
        if inherit is not None:
            for i, c in cands.items():
                c["source"] = inherit.get(i, 0.0)
        if period is not None:
            _mark_period(cands, period, _slack(cfg))
        top_bm25 = S.top_bm25(cands)
        missing = [i for i, c in cands.items() if "rec" not in c]
        if qv is not None and missing:

            def score(i: str, c: dict[str, Any]) -> float:
                return S.combine(S.parts(c, graph.get(i, 0.0), top_bm25), cfg)

            dense = sorted((c["dense"] for c in cands.values() if "rec" in c), reverse=True)
            # the k-th best cosine bounds the others'; with fewer hits, there are no others
            best = dense[k - 1] if len(dense) >= k else -math.inf
            when = {"time": 1.0} if period else {}  # at best, a missing one is in the period
            known = [(score(i, c), c["rec"].source_ids) for i, c in cands.items() if "rec" in c]
            picks = S.picks(known, penalty, limit)
            # a candidate scoring below every pick's (adjusted) score is never picked
            bar = min(a for _, a in picks) if len(picks) >= limit else -math.inf
            missing = [i for i in missing if score(i, {**cands[i], "dense": best, **when}) >= bar]
            for i in [i for i, c in cands.items() if "rec" not in c and i not in missing]:
                del cands[i]
        fetched = store.fetch(missing, scope, where, self._archive)
        got = {rec.id: (rec, vec) for rec, vec in fetched}
        for i in missing:
            if i not in got:
                del cands[i]
                continue
            rec, vec = got[i]
            cands[i]["rec"] = rec
            if qv is not None:
                cands[i]["dense"] = rescale(float(np.dot(vec, qv)), self.embedder.floor)
        if self.as_of is not None:  # the store's clause lets a few through (see as_of_where)
            for i in [i for i, c in cands.items() if not c["rec"].held_at(self.as_of)]:
                del cands[i]
        if period is not None:
            _mark_period(cands, period, _slack(cfg))
        return S.score(cands, graph, top_bm25, cfg)

    # -- graph -----------------------------------------------------------------------------
    def _walk(
        self,
        query: str,
        seeds: dict[str, float],
        scope: Scope,
        cfg: SearchConfig,
        facts: Cands,
        sources: Cands,
    ) -> _Walk | None:
        """Personalized PageRank from the query's entities and the best dense hits (facts and
        sources) over entities, facts and sources: a passage is reached through the entities
        that the best passages mention and that it is about."""
        bridge = _bridge_weights(facts, sources, cfg)
        kept = self.graph.mentions(scope, sorted(set(facts) | set(bridge)))
        mentions = [(f, e) for f, e in kept if f in bridge]
        weight = dict(seeds)
        for fid, eid in mentions:
            weight[eid] = weight.get(eid, 0.0) + bridge[fid]
        if not weight:
            return None
        # the edge budget goes to the strongest start entities first (and runs are repeatable)
        start = sorted(weight, key=lambda e: (-weight[e], e))
        if scope.user_id is None:  # an agent's or a run's query, across its users' scopes
            start = start[:ACROSS_SCOPES_STARTS]
        sub = self.graph.neighbourhood(
            scope, start, cfg.hops, cfg.max_edges, cfg.hub_cap, at=self.as_of
        )
        qg = G.build(sub, kept, cfg.hub_cap, cfg.max_mentions)
        G.add_sources(qg, self.graph.fact_sources(qg.facts()))
        # a query entity counts by its specificity: one fact names it, or a thousand
        personal = {e: w / math.log(2 + sub.degree.get(e, 0)) for e, w in seeds.items()}
        words = query_words(query)
        named: set[str] = set()
        for r in sub.relations:  # "my manager" names the HAS_MANAGER edge: seed its target
            if not relation_words(r.relation) & words:
                continue
            if r.source_id in seeds:
                personal[r.target_id] = personal.get(r.target_id, 0.0) + 1.0
            if (r.source_id in seeds or r.target_id in seeds) and naming_words(r.relation) & words:
                named.add(r.fact_id)
        for fid, eid in mentions:  # bridges: what the best hits mention, not the hits
            personal[eid] = personal.get(eid, 0.0) + bridge[fid] * cfg.bridge_weight
        scores = G.ppr(qg, personal, cfg.damping)
        if cfg.about_weight > 0:
            self._about(scope, sub, scores, sources, cfg)
        return _Walk(qg, sub, seeds, scores, named)

    def _matched_by_the_past(
        self, sources: list[Hit], qv: Vector | None, scope: Scope
    ) -> frozenset[str]:
        """The sources whose fact closest to the query no longer holds ("I live in Hamburg."
        of "I live in Hamburg. My manager is Bob."): the message matches for what was
        superseded, so its other facts inherit nothing from it."""
        listed = {h.record.id: json.loads(h.record.metadata.get(FACTS_KEY, "[]")) for h in sources}
        listed = {sid: fids for sid, fids in listed.items() if len(fids) > 1}
        if self.as_of is None and listed:  # only a source with a superseded fact may be
            ended = self.vectors.superseded(sorted({f for fids in listed.values() for f in fids}))
            if ended is not None:  # and the store says which are without reading them
                listed = {sid: fids for sid, fids in listed.items() if ended.intersection(fids)}
        ids = sorted({f for fids in listed.values() for f in fids})
        if qv is None or not ids:
            return frozenset()
        got = self.vectors.fetch(ids, scope, include_invalid=True)
        found = {rec.id: (float(np.dot(vec, qv)), rec) for rec, vec in got}
        out = set()
        for sid, fids in listed.items():
            known = [found[f] for f in fids if f in found]
            if len(known) > 1 and not self._holds(max(known, key=lambda x: x[0])[1]):
                out.add(sid)
        return frozenset(out)

    def _holds(self, rec: FactRecord) -> bool:
        """Current, or in a point-in-time view, held then."""
        return rec.invalid_at is None if self.as_of is None else rec.held_at(self.as_of)

    def _about(
        self,
        scope: Scope,
        sub: Subgraph,
        scores: dict[str, float],
        sources: Cands,
        cfg: SearchConfig,
    ) -> None:
        """A source titled by an entity is *about* it (a passage by its title, a message by
        its speaker): it scores at least ``about_weight`` times that entity's walk score. A hub
        such as a country lists none of its mentions, so its own passage would otherwise stay
        out of reach. Only the ``about_entities`` best entities count; the store lists the
        sources of a name only up to ``hub_cap``, beyond that (a speaker's thousand messages)
        only the candidate sources get the score."""
        ranked = sorted(
            (e for e in sub.entities if scores.get(e, 0.0) > 0), key=lambda e: (-scores[e], e)
        )
        best: dict[str, float] = {}
        for eid in ranked[: cfg.about_entities]:
            for n in sub.entities[eid].names:
                key = norm_name(n)
                best[key] = max(best.get(key, 0.0), scores[eid])
        if not best:
            return
        about = [
            (norm_name(c["rec"].metadata[TITLE_KEY]), sid)
            for sid, c in sources.items()
            if "rec" in c and c["rec"].metadata.get(TITLE_KEY)
        ]
        listed = self.graph.sources_about(scope, sorted(best), cfg.hub_cap)
        about += [(name, sid) for name, sids in listed.items() for sid in sids]
        for name, sid in about:
            if name in best:
                node = "s:" + sid
                scores[node] = max(scores.get(node, 0.0), cfg.about_weight * best[name])


def _best(cands: Cands, n: int) -> list[str]:
    dense = [i for i in cands if "dense" in cands[i] and "rec" in cands[i]]
    return sorted(dense, key=lambda i: cands[i]["dense"], reverse=True)[:n]


def _bridge_weights(facts: Cands, sources: Cands, cfg: SearchConfig) -> dict[str, float]:
    """Fact id → weight for the facts of the best dense hits (facts, and the facts of the best
    sources), sharply decreasing with their distance to the best hit."""
    scored: dict[str, float] = {f: facts[f]["dense"] for f in _best(facts, cfg.bridge_hits)}
    for sid in _best(sources, cfg.bridge_hits):
        for fid in json.loads(sources[sid]["rec"].metadata.get(FACTS_KEY, "[]")):
            scored[fid] = max(scored.get(fid, -1.0), sources[sid]["dense"])
    if not scored:
        return {}
    top = max(scored.values())
    return {f: math.exp((d - top) / cfg.bridge_temperature) for f, d in scored.items()}


def _nodes(walk: _Walk | None, prefix: str) -> dict[str, float]:
    if walk is None:
        return {}
    return {n[2:]: v for n, v in walk.scores.items() if n.startswith(prefix)}


def _scaled(graph: dict[str, float]) -> dict[str, float]:
    """Walk score → share of the best node's."""
    top = max(graph.values(), default=0.0)
    return {i: v / top for i, v in graph.items() if v > 0} if top > 0 else {}


def _ranked(graph: dict[str, float], k: float, cands: Cands, n: int) -> dict[str, float]:
    """Walk score → ``k / (k + rank)`` among the candidates (the ``n`` best walk nodes and the
    dense and BM25 hits; best = rank 0). A source's mass is dominated by the passage that the
    query names (its facts neighbour the seeds): scaled by it, the passage one bridge further
    scores a tenth, though it ranks second. By rank it stays in play."""
    ranked = sorted((i for i, v in graph.items() if v > 0), key=lambda i: (-graph[i], i))
    pool = ranked[:n] + [i for i in ranked[n:] if i in cands]
    out: dict[str, float] = {}
    for r, i in enumerate(pool):  # ties share the better rank (a speaker's messages, say)
        out[i] = out[pool[r - 1]] if r and graph[i] == graph[pool[r - 1]] else k / (k + r)
    return out


def _slack(cfg: SearchConfig) -> timedelta:
    return timedelta(days=cfg.time_slack_days)


def _both(where: dict[str, Any] | None, clause: dict[str, Any]) -> dict[str, Any]:
    return {"$and": [where, clause]} if where else clause


def _mark_period(cands: Cands, period: Period, slack: timedelta) -> None:
    """``time`` = 1 for the candidates valid from within the period asked about, or that held
    during it and were superseded since, else 0."""
    for c in cands.values():
        if "rec" in c:
            rec = c["rec"]
            within = period.contains(rec.valid_from, slack)
            c["time"] = float(within or period.held(rec.valid_from, rec.invalid_at, slack))


def _explain(
    walk: _Walk, facts: list[Hit], sources: list[Hit], cands: Cands, cfg: SearchConfig
) -> None:
    """Each fact's relation paths from the query entities to the entities it mentions; each
    source that a second-hop query lifted, the path to that query's bridge (or its name)."""
    targets = {h.record.id: walk.qg.links.get(h.record.id, set()) for h in facts}
    lifted = {h.record.id: cands[h.record.id]["via"] for h in sources if h.parts.get("hop", 0) > 0}
    targets.update({sid: {bridge} for sid, bridge in lifted.items()})
    order = sorted(walk.seeds, key=walk.seeds.__getitem__, reverse=True)
    found = G.paths(walk.qg, order, targets, walk.sub.entities, cutoff=cfg.hops + 2)
    for h in facts:
        h.paths = found[h.record.id]
    for h in sources:
        if h.record.id in lifted:
            bridge = walk.sub.entities[lifted[h.record.id]].name
            h.paths = found[h.record.id] or [bridge]


def _relations(walk: _Walk, fact_ids: set[str], limit: int) -> list[dict[str, Any]]:
    names = {i: e.name for i, e in walk.sub.entities.items()}
    rels = [
        r for r in walk.sub.relations if r.fact_id in fact_ids and r.relation != "MENTIONED_WITH"
    ]

    def weight(r: Any) -> float:
        return walk.scores.get(r.source_id, 0.0) + walk.scores.get(r.target_id, 0.0)

    rels.sort(key=weight, reverse=True)
    return [
        {
            "source": names.get(r.source_id, r.source_id),
            "relationship": r.relation,
            "target": names.get(r.target_id, r.target_id),
            "valid_from": r.valid_from.isoformat() if r.valid_from else None,
            "invalid_at": r.invalid_at.isoformat() if r.invalid_at else None,
            "fact_id": r.fact_id,
            "score": round(weight(r), 6),
        }
        for r in rels[:limit]
    ]
