"""The front door: a Mem0-compatible ``Memory``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from . import call_args, forget, graph_view, ingest, inputs, journal, transfer, usage
from .config import Config
from .errors import BackendError, ConfigError, InvalidInputError, NotFoundError, ReadOnlyError
from .factory import Parts, build
from .models import FactRecord, Scope, now, partition
from .plan import Plan
from .prompts import Extraction
from .qa import answer
from .results import found, scope_dict, within
from .results import limit as _limit
from .results import search_config as _search_config
from .results import source as _source
from .retrieve import Retriever, SearchConfig
from .retrieve.connect import connect
from .retrieve.when import as_of_where
from .stores.call_reads import kept_reads
from .write import Item, Writer

log = logging.getLogger("graphmem")


class Memory:
    """Long-term memory for agents: facts in a vector store, entities and relations in a graph.

    ``Memory()`` runs embedded under ``./.graphmem`` (or ``GRAPHMEM_DATA_DIR``). Nothing is
    opened until the first call; backends can be injected by keyword for tests and tools.
    """

    def __init__(self, config: Config | None = None, **parts: Any) -> None:
        self.config = config or Config.load()
        self._given = parts
        self._parts: Parts | None = None
        self._lock = threading.RLock()
        self._recovered = False
        self._usage = usage.Meter(self.config.llm_prices)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Memory:
        return cls(Config.load(config))

    # -- plumbing --------------------------------------------------------------------------
    @property
    def parts(self) -> Parts:
        """The open stores. Once open (and the journal replayed), no lock is taken: a read
        in one thread never waits for a write in another (see ``aio`` for the model)."""
        p = self._parts
        if p is None or not (self._recovered or self.config.read_only):
            with self._lock:
                if self._parts is None:
                    built = build(self.config, **self._given)
                    built.setup()
                    self._parts = built
                p = self._parts
                if not self._recovered and not self.config.read_only:
                    self._recover(p)
        if p.stale():  # another process wrote: keyword indexes rebuild
            p.keywords.changed()
        return p

    def _writable(self) -> None:
        if self.config.read_only:
            raise ReadOnlyError(
                "this Memory is read-only (read_only / GRAPHMEM_READ_ONLY): write through the "
                "Memory that owns the data dir"
            )

    def _recover(self, p: Parts) -> None:
        """Replay plans a crash or an error left half-applied (plans are idempotent); a plan
        that keeps failing is quarantined (``journal``), never blocking this call."""
        try:
            self._recovered = journal.recover(p, self.config.journal_max_attempts)
        finally:
            p.keywords.changed()

    def _apply(self, plan: Plan, scope: Scope) -> None:
        p = self.parts
        try:
            journal.apply(p, plan, scope, self.config.journal_max_attempts)
        except BackendError:
            self._recovered = False  # the next call replays the journal
            raise
        finally:  # after the write: a search meanwhile (another thread) indexed part of it
            p.keywords.changed()

    @contextmanager
    def _writing(self, scope: Scope) -> Iterator[None]:
        """This process's lock, then the graph store's lock of ``scope`` (other processes):
        what a write plans from is what it is applied to."""
        with self._lock, self.parts.graph.lock(scope):
            yield

    def _writer(self) -> Writer:
        p = self.parts
        return Writer(self.config, p.embedder, p.vectors, p.entity_vectors, p.graph, p.llm)

    # -- write -----------------------------------------------------------------------------
    def add(
        self,
        messages: str | list[dict[str, str]],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        timestamp: str | float | datetime | None = None,
    ) -> dict[str, Any]:
        """Distil ``messages`` into facts, reconcile them with what is known, store them."""
        item = {"messages": messages, "timestamp": timestamp}
        return self.add_many(
            [item],
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=metadata,
            infer=infer,
        )

    def add_many(
        self,
        items: list[Any],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        batch_size: int = 64,
        progress: bool = False,
    ) -> dict[str, Any]:
        """``add`` for many documents of one scope: all extracted first (with an LLM,
        ``llm_concurrency`` calls at once; nothing written if one fails), then written in
        batches, in order (``ingest``). ``progress``: a bar on stderr.

        Each item is a string, a message list, or ``{"messages", "metadata"?, "timestamp"?,
        "title"?, "context"?}``; its metadata is merged over ``metadata``; its title names its
        source; its context (the turn before it, or a list of the turns before it, oldest
        first) is what its first message is read with, as each later message of a list is read
        with the ones before: embedded along (up to ``inputs.READ_BEFORE`` of them), not stored, so
        that "It taught me self-acceptance" is found for the book it answers.
        """
        self._writable()
        scope = Scope(user_id, agent_id, run_id)
        if not isinstance(items, list) or not items:
            raise InvalidInputError("items must be a non-empty list")
        cfg = self.config
        base = inputs.metadata(metadata, cfg.max_metadata_bytes)
        parsed = [inputs.item(it, base, cfg.max_text_chars, cfg.max_metadata_bytes) for it in items]
        with usage.metered(self._usage) as meter, ingest.Bar(len(parsed), progress) as bar:
            done = ingest.extract_all(self.parts, [it.messages for it in parsed], infer, bar)
            out = ingest.in_batches(
                parsed,
                done,
                _limit(batch_size),
                lambda chunk, extracted: self._add_batch(scope, chunk, extracted, infer),
                bar,
            )
        return {**out, "usage": meter.report()}

    def _add_batch(
        self, scope: Scope, chunk: list[inputs.Input], extracted: list[Extraction], infer: bool
    ) -> dict[str, Any]:
        at = now()
        items = ingest.items(scope, chunk, extracted, at)
        with self._writing(scope):
            plan, results, relations = self._writer().plan(scope, items, at, reconcile=infer)
            self._apply(plan, scope)
        return {"results": results, "relations": relations}

    def update(self, memory_id: str, text: str) -> dict[str, Any]:
        """Replace a memory's text; its old relations are invalidated, new ones derived."""
        self._writable()
        text = inputs.text(text)
        old = self._get(memory_id)
        extraction = self.parts.offline.extract_as_is([{"role": "user", "content": text}])
        with self._writing(old.scope):
            item = Item(extraction, [], old.metadata, old.valid_from)
            plan, _, _ = self._writer().plan(old.scope, [item], now(), update_of=old)
            self._apply(plan, old.scope)
        return {
            "message": "Memory updated successfully!",
            "id": memory_id,
            "memory": text,
            "previous_memory": old.text,
        }

    def delete(self, memory_id: str) -> dict[str, Any]:
        """Remove a memory, exactly the graph edges derived from it, and its text from the
        sources (messages, passages) it came from (``forget``): no read returns it again.
        ``history`` keeps the event (``erase`` removes that too)."""
        self._writable()
        old = self._get(memory_id)
        with self._writing(old.scope):
            old = self._get(memory_id)  # as it is now that no one else writes its scope
            p = self.parts
            self._apply(forget.deletion(p.graph, p.embedder, [old], now()), old.scope)
        return {"message": "Memory deleted successfully!", "id": memory_id}

    def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        self._writable()
        scope = Scope(user_id, agent_id, run_id)
        with self._writing(scope):
            records = self._delete_all(scope, keep_history=True)
        return {"message": f"Deleted {len(records)} memories", "deleted": len(records)}

    def _delete_all(self, scope: Scope, keep_history: bool) -> list[FactRecord]:
        records = self.parts.vectors.scan(scope, limit=10**9, include_invalid=True)
        self._apply(forget.scope_deletion(scope, records, now(), keep_history), scope)
        return records

    def erase(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Forget a scope completely (the right to be forgotten): its memories, sources,
        entities and relations as ``delete_all`` removes them, and also its history events
        and any write of it still journaled or quarantined. Nothing of it can be read back."""
        self._writable()
        scope = Scope(user_id, agent_id, run_id)
        with self._writing(scope):
            records = self._delete_all(scope, keep_history=False)
            history = self.parts.history
            keys = [k for k in history.scopes() if within(scope, k)]
            owner_only = len(scope.items()) == 1
            events = history.erase(
                keys, [r.id for r in records], partition(scope) if owner_only else None
            )
        return {
            "message": f"Erased {len(records)} memories",
            "deleted": len(records),
            "history_events": events,
        }

    def health(self) -> dict[str, Any]:
        """The write journal's state: writes waiting for a replay (``pending``) and writes
        that failed ``journal_max_attempts`` times (``quarantined``: kept, not replayed, see
        ``graphmem doctor``). ``ok`` when both are empty."""
        problems = self.parts.history.problems()
        for rows in problems.values():
            for row in rows:
                row["scope"] = scope_dict(row["scope"])
        return {"ok": not any(problems.values()), **problems}

    def retry_quarantined(self, plan_ids: list[str] | None = None) -> dict[str, Any]:
        """Replay quarantined writes (all, or these) now; what fails again is quarantined
        again after ``journal_max_attempts`` more attempts."""
        self._writable()
        with self._lock:
            n = self.parts.history.requeue(plan_ids)
            self._recover(self.parts)
        return {"requeued": n, **self.health()}

    def drop_quarantined(self, plan_ids: list[str] | None = None) -> dict[str, Any]:
        """Discard quarantined writes (all, or these): what they would have stored is lost."""
        self._writable()
        with self._lock:
            n = self.parts.history.drop(plan_ids)
        return {"dropped": n, **self.health()}

    def reset(self) -> None:
        """Delete graphmem's own data (its collections, graph and history), nothing else."""
        self._writable()
        p = self.parts
        with self._lock:
            for store in (*p.stores, p.history):
                store.reset()

    # -- read ------------------------------------------------------------------------------
    def _get(self, memory_id: Any) -> FactRecord:
        found = self.parts.vectors.get([inputs.memory_id(memory_id)])
        if not found:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found[0]

    def get(self, memory_id: str) -> dict[str, Any]:
        rec = self._get(memory_id)
        return {**rec.to_result(), "sources": self._sources(rec)}

    def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        include_invalid: bool = False,
        as_of: str | float | datetime | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        """The scope's current memories, oldest first (``include_invalid``: superseded ones
        too; ``as_of``: those that held at that time, as in ``search``). At most ``limit``
        (or ``top_k``; 100). The scope may be given in ``filters`` too (``call_args``)."""
        scope, where = call_args.scoped(user_id, agent_id, run_id, filters)
        n = call_args.count(limit, top_k, 100)
        at = inputs.as_of(as_of)
        if at is None:
            recs = self.parts.vectors.scan(scope, where, n, include_invalid)
            return {"results": [r.to_result() for r in recs]}
        # the store's clause lets a few through (see ``as_of_where``): cut after ``held_at``
        recs = self.parts.vectors.scan(scope, as_of_where(at, where), 10**9, include_invalid=True)
        return {"results": [r.to_result() for r in recs if r.held_at(at)][:n]}

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        filters: dict[str, Any] | None = None,
        threshold: float | None = None,
        config: str | SearchConfig = "hybrid",
        as_of: str | float | datetime | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        """Hybrid retrieval (dense + graph); no LLM call. Each result explains its score.
        ``as_of`` (ISO string, epoch seconds or datetime): search what held at that time —
        memories and relations begun by then (at their event time, else when written) and
        not yet superseded then, whether superseded since or not. At most ``limit`` (or
        ``top_k``; 10) results. The scope may be given in ``filters`` too (Mem0 3.x:
        ``filters={"user_id": …}``, see ``call_args``)."""
        scope, where = call_args.scoped(user_id, agent_id, run_id, filters)
        n = call_args.count(limit, top_k, 10)
        query = inputs.text(query)
        threshold = inputs.number(threshold, "threshold")
        if len(query) > self.config.max_text_chars:
            raise InvalidInputError("query is too long")
        cfg = _search_config(config)
        at = inputs.as_of(as_of)
        p = self.parts
        retriever = Retriever(
            p.embedder, p.vectors, p.source_vectors, p.graph, p.keywords, p.entity_vectors, at
        )
        with kept_reads():  # the stores read each record once per search
            ranking = retriever.search(query, scope, n, cfg, where)
        keep = [h for h in ranking.facts if threshold is None or h.score >= threshold]
        wanted = [i for h in keep for i in h.record.source_ids]
        return found(ranking, keep, p.graph.sources(scope, wanted), threshold)

    def ask(
        self,
        question: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        config: str | SearchConfig = "hybrid",
        as_of: str | float | datetime | None = None,
    ) -> dict[str, Any]:
        """Answer from memory: hybrid retrieval, then exactly one LLM call that answers with
        citations (memory ids) and the relation paths used. ``as_of``: as in ``search``."""
        if self.parts.llm is None:
            raise ConfigError(
                "ask() needs an LLM: set GRAPHMEM_LLM_BASE_URL or GRAPHMEM_LLM_API_KEY"
            )
        found = self.search(
            question,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            limit=limit,
            config=config,
            as_of=as_of,
        )
        with usage.metered(self._usage) as meter:
            out = answer(self.parts.llm, question, found["results"], found["relations"])
        return {**out, "usage": meter.report()}

    def usage(self) -> dict[str, Any]:
        """The LLM calls and tokens of every ``add``, ``add_many`` and ``ask`` of this
        ``Memory`` so far (failed ones too), and their ``cost`` with ``llm_prices``."""
        return self._usage.report()

    def paths(
        self,
        source: str,
        target: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        max_hops: int = 3,
        limit: int = 5,
        as_of: str | float | datetime | None = None,
    ) -> dict[str, Any]:
        """How the graph connects two named entities: the shortest relation paths between
        them (``"Bob -[WORKS_AT]-> Acme -[BASED_IN]-> Lisbon"``, at most ``max_hops``
        relations), each with the memory ids its relations come from. No LLM call.
        ``as_of``: the relations that held at that time, as in ``search``."""
        scope = Scope(user_id, agent_id, run_id)
        names = [inputs.name(source, "source"), inputs.name(target, "target")]
        if not isinstance(max_hops, int) or isinstance(max_hops, bool) or not 1 <= max_hops <= 6:
            raise InvalidInputError(f"max_hops must be an integer in 1..6: {max_hops!r}")
        at = inputs.as_of(as_of)
        graph = self.parts.graph
        return connect(graph, scope, *names, hops=max_hops, limit=_limit(limit), at=at)

    @property
    def can_ask(self) -> bool:
        """Whether ``ask`` has an LLM to answer with."""
        return self.parts.llm is not None

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        """Every event of a memory, oldest first, with the scope it was written in."""
        rows = self.parts.history.history(inputs.memory_id(memory_id))
        if not rows:
            raise NotFoundError(f"no history for memory id {memory_id!r}")
        for row in rows:
            row.update(scope_dict(row.pop("scope", None)) or {})
        return rows

    def entities(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 1000,
    ) -> dict[str, Any]:
        """The scope's entities (people, places, things its memories name), by name."""
        scope = Scope(user_id, agent_id, run_id)
        return graph_view.entities(self.parts.graph, scope, _limit(limit))

    def graph(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        as_of: str | float | datetime | None = None,
        limit: int = 1000,
        include_invalid: bool = False,
    ) -> dict[str, Any]:
        """The scope's relations that hold now (``as_of``: that held then, superseded since
        or not), oldest first, and the entities they connect; ``include_invalid``: those
        superseded by then too (their ``invalid_at`` is set and past)."""
        scope = Scope(user_id, agent_id, run_id)
        at = inputs.as_of(as_of)
        return graph_view.snapshot(self.parts.graph, scope, at, _limit(limit), include_invalid)

    # -- move ------------------------------------------------------------------------------
    def export(
        self,
        path: str | Path,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        vectors: bool = False,
        progress: bool = False,
    ) -> dict[str, Any]:
        """A scope (no ids: the whole store) to a JSON Lines file (``docs/export.md``)."""
        ids = (user_id, agent_id, run_id)
        scope = None if ids == (None, None, None) else Scope(*ids)
        with self._lock:  # no write of this process meanwhile
            return transfer.dump(self.parts, Path(path), scope, vectors, progress)

    def import_(self, path: str | Path, *, progress: bool = False) -> dict[str, Any]:
        """An ``export`` file into this store: all checked first (``ExportFileError``), then
        written with its ids (importing it again changes nothing)."""
        self._writable()
        return transfer.load(self.parts, Path(path), self._writing, self._apply, progress)

    def _sources(self, rec: FactRecord) -> list[dict[str, Any]]:
        return [_source(s) for s in self.parts.graph.sources(rec.scope, list(rec.source_ids))]

    def close(self) -> None:
        if self._parts is not None:
            self._parts.close()
            self._parts = None
            self._recovered = False

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Memory"]
