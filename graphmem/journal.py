"""Applying write plans: journal first, then both stores; replay and quarantine.

A plan is serialised as strict JSON before anything is stored, so what cannot be stored is
refused up front (``InvalidInputError``) and never journaled. A journaled plan that fails is
replayed on a later call (plans are idempotent); after ``journal_max_attempts`` failures it
is quarantined: kept in the history database, listed by ``Memory.health()`` and
``graphmem doctor``, and never replayed on its own again. Replay never raises: one bad plan
can not block other writes, other scopes or other processes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .errors import BackendError, GraphMemError
from .models import Scope, parse_ts
from .plan import Plan

if TYPE_CHECKING:
    from .factory import Parts

log = logging.getLogger("graphmem")


def execute(p: Parts, plan: Plan) -> None:
    """Write a plan to both stores (idempotent: replaying it gives the same state). The graph
    goes first: its write is one transaction, so a plan the graph refuses leaves nothing
    readable behind (the vector store's writes are several calls)."""
    if plan.delete_facts:
        p.graph.delete_facts(plan.delete_facts)
    if plan.delete_sources:
        p.graph.delete_sources(plan.delete_sources)
    if plan.delete_scope:
        p.graph.delete_scope(Scope(**plan.delete_scope))
    ended = {f: at for f, t in plan.ended.items() if (at := parse_ts(t))}
    p.graph.write(plan.graph, plan.invalidate_facts, parse_ts(plan.at), ended)
    if plan.facts:
        p.vectors.upsert(plan.facts, Plan.vectors(plan.embeddings))
    if plan.fact_updates:
        p.vectors.upsert(plan.fact_updates, None)
    if plan.entity_records:
        p.entity_vectors.upsert(plan.entity_records, Plan.vectors(plan.entity_embeddings))
    if plan.source_records:
        p.source_vectors.upsert(plan.source_records, Plan.vectors(plan.source_embeddings))
    if plan.delete_facts:
        p.vectors.delete(plan.delete_facts)
    if plan.delete_sources:
        p.source_vectors.delete(plan.delete_sources)
    if plan.delete_scope:
        scope = Scope(**plan.delete_scope)
        p.entity_vectors.delete_scope(scope)
        p.source_vectors.delete_scope(scope)
    if plan.history:
        p.history.record(plan.history)


def apply(p: Parts, plan: Plan, scope: Scope, max_attempts: int) -> None:
    """Journal ``plan``, then write it. A failure leaves it journaled for a replay (and
    counts as its first attempt) and raises ``BackendError``."""
    text = plan.to_json()  # InvalidInputError here: nothing was stored
    p.history.journal(plan.id, text, scope.key)
    try:
        execute(p, plan)
    except Exception as e:
        _failed(p, plan.id, e, max_attempts)
        raise BackendError(
            f"write failed ({e}); it is journaled and will be completed on a later call"
        ) from e
    p.history.done(plan.id)


def recover(p: Parts, max_attempts: int) -> bool:
    """Replay journaled plans, oldest first; a plan that fails again counts an attempt (and
    is quarantined after ``max_attempts``). True when nothing is left pending."""
    try:
        pending = p.history.pending()
    except GraphMemError as e:
        log.error("cannot read the write journal: %s", e)
        return False
    clean = True
    for plan_id, data in pending:
        log.warning("replaying unfinished write %s", plan_id)
        try:
            execute(p, Plan.from_dict(data))
            p.history.done(plan_id)
        except Exception as e:  # never raised: other writes and scopes go on
            clean = False
            _failed(p, plan_id, e, max_attempts)
    return clean


def _failed(p: Parts, plan_id: str, error: Exception, max_attempts: int) -> None:
    reason = f"{type(error).__name__}: {error}"
    try:
        if p.history.failed(plan_id, reason, max_attempts):
            log.error("write %s quarantined after %d attempts: %s", plan_id, max_attempts, reason)
        else:
            log.warning("write %s failed (%s); it will be replayed", plan_id, reason)
    except GraphMemError as e:
        log.error("cannot record the failure of write %s: %s", plan_id, e)
