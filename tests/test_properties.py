"""Property-based tests of the public API (hypothesis): random unicode (surrogates, control
characters, RTL, emoji), JSON-ish and non-JSON metadata, random filters, ids and scopes,
interleaved with add / search / update / delete / delete_all / erase.

After every step: every call either succeeded or raised a ``GraphMemError``; no read of one
scope returns another scope's record; no read returns a deleted memory's text; the vector
store, the graph and the journal agree. The ``ci`` profile is bounded; run the ``soak``
profile for longer: ``pytest tests/test_properties.py --hypothesis-profile=soak``.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)

from graphmem import Config, GraphMemError, Memory
from graphmem.embed import OnnxEmbedder
from graphmem.extract import SpacyExtractor
from graphmem.models import Scope

pytestmark = pytest.mark.slow

#: what the runs covered, printed at the end of the session (see conftest.py)
STATS = {"examples": 0, "steps": 0, "refused": 0}


@functools.cache
def parts() -> dict[str, Any]:
    """The real embedder and spaCy pipeline, loaded once for every example."""
    cfg = Config.load()
    return {
        "embedder": OnnxEmbedder(cfg.model_dir(), name=cfg.embed_model),
        "offline": SpacyExtractor(cfg.spacy_model),
    }


# -- strategies ----------------------------------------------------------------------------
ANY_CHAR = st.characters(codec=None, categories=None)  # surrogates and controls included
SENTENCES = [
    "I live in Paris.",
    "I moved to Rome last week.",
    "My manager Bob works at Acme Robotics.",
    "My bank PIN is 4921.",
    "Alice is married to Bob.",
    "אני גר בתל אביב.",  # RTL
    "I love 🍕 and 🎸.",
    "I work at \u202eemcA\u202c in Berlin.",
]
texts = st.one_of(
    st.sampled_from(SENTENCES),
    st.lists(st.sampled_from(SENTENCES), min_size=2, max_size=3).map(" ".join),
    st.text(ANY_CHAR, min_size=0, max_size=40),
    st.sampled_from(SENTENCES).flatmap(
        lambda s: st.text(ANY_CHAR, max_size=5).map(lambda junk: s + junk)
    ),
)
USERS = ["alice", "בוב", "👩‍💻", "u\u202eevil", "x" * 256]
users = st.one_of(st.sampled_from(USERS), st.sampled_from(USERS[:2]), st.text(ANY_CHAR, max_size=8))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(ANY_CHAR, max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
not_json = st.one_of(
    st.frozensets(st.integers(), max_size=2), st.binary(max_size=4), st.just(object())
)
metadata = st.one_of(
    st.none(),
    st.dictionaries(st.text(ANY_CHAR, max_size=6), json_values, max_size=3),
    st.dictionaries(st.text(max_size=4), not_json, min_size=1, max_size=2),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=1),
)
filters = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.text(ANY_CHAR, max_size=6), st.integers(), st.sampled_from(["AND", "$or"])),
        st.one_of(json_values, st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
        max_size=2,
    ),
)
ids = st.one_of(st.text(ANY_CHAR, max_size=60), st.integers(), st.none())


class MemoryMachine(RuleBasedStateMachine):
    memories = Bundle("memories")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="graphmem-prop-"))
        config = Config.load({"data_dir": self.dir, "extractor": "offline"})
        self.m = Memory(config, **parts())
        self.deleted: dict[str, set[str]] = {}  # user → texts of deleted memories
        #: user → messages added: (text, ids of the live memories it backs, all it backed)
        self.messages: dict[str, list[tuple[str, set[str], frozenset[str]]]] = {}
        self.origin: dict[tuple[str, str], set[str]] = {}  # (user, deleted text) → memory ids
        self.users: set[str] = set()
        STATS["examples"] += 1

    def teardown(self) -> None:
        self.m.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every public call succeeds or raises a GraphMemError (anything else fails)."""
        STATS["steps"] += 1
        try:
            return fn(*args, **kwargs)
        except GraphMemError:
            STATS["refused"] += 1
            return None

    # -- rules -----------------------------------------------------------------------------
    @rule(target=memories, text=texts, user=users, md=metadata)
    def add(self, text: str, user: str, md: Any) -> Any:
        out = self.call(self.m.add, text, user_id=user, metadata=md)
        if out is None:
            return multiple()
        self.users.add(user)
        said = self.deleted.get(user, set())
        said -= {t for t in said if t in text}  # said again: its message holds it again
        added = [r for r in out["results"] if r["event"] in ("ADD", "UPDATE")]
        ids = {r["id"] for r in added}
        self.messages.setdefault(user, []).append((text, ids, frozenset(ids)))
        return multiple(*[(r["id"], user) for r in added])

    @rule(
        query=texts,
        user=users,
        flt=filters,
        preset=st.sampled_from(["hybrid", "bm25", "nope"]),
        threshold=st.one_of(st.none(), st.floats(), st.text(max_size=2)),
        as_of=st.one_of(st.none(), st.floats(), st.text(ANY_CHAR, max_size=12)),
    )
    def search(
        self, query: str, user: str, flt: Any, preset: str, threshold: Any, as_of: Any
    ) -> None:
        out = self.call(
            self.m.search,
            query,
            user_id=user,
            filters=flt,
            config=preset,
            threshold=threshold,
            as_of=as_of,
        )
        if out is not None:
            self.only_of(out, user)

    @rule(mem=memories, text=texts)
    def update(self, mem: tuple[str, str], text: str) -> None:
        self.call(self.m.update, mem[0], text)

    @rule(mem=consumes(memories))
    def delete(self, mem: tuple[str, str]) -> None:
        got = self.call(self.m.get, mem[0])
        if got is not None and self.call(self.m.delete, mem[0]) is not None:
            self.deleted.setdefault(mem[1], set()).add(got["memory"])
            self.origin.setdefault((mem[1], got["memory"]), set()).add(mem[0])
            for _, ids, _ in self.messages.get(mem[1], []):
                ids.discard(mem[0])

    @rule(user=users, erase=st.booleans())
    def delete_all(self, user: str, erase: bool) -> None:
        listed = self.call(self.m.get_all, user_id=user, include_invalid=True, limit=1000)
        done = self.call(self.m.erase if erase else self.m.delete_all, user_id=user)
        if listed is not None and done is not None:
            self.deleted.setdefault(user, set()).update(r["memory"] for r in listed["results"])
            self.messages.pop(user, None)

    @rule(memory_id=st.one_of(ids, memories.map(lambda m: m[0])))
    def read_by_id(self, memory_id: Any) -> None:
        for fn in (self.m.get, self.m.history):
            self.call(fn, memory_id)

    # -- invariants ------------------------------------------------------------------------
    def only_of(self, out: dict[str, Any], user: str) -> None:
        for row in (*out["results"], *out.get("sources", ())):
            assert row["user_id"] == user, f"{user!r} read a record of {row['user_id']!r}"

    @invariant()
    def scopes_never_leak_and_deleted_text_is_gone(self) -> None:
        for user in self.users:
            listed = self.m.get_all(user_id=user, include_invalid=True, limit=1000)
            self.only_of(listed, user)
            live = [r["memory"] for r in listed["results"]]
            for text in self.deleted.get(user, set()):
                if any(text in t for t in live):
                    continue  # said again since, or part of a memory that still holds
                mine = self.origin.get((user, text), set())
                held = [m for m, ids, was in self.messages.get(user, []) if ids and not mine & was]
                if any(text in m for m in held):
                    continue  # in another message, which a memory still holds
                found = self.m.search(text, user_id=user, limit=20)
                self.only_of(found, user)
                seen = json.dumps([found, listed], ensure_ascii=False)
                assert json.dumps(text, ensure_ascii=False)[1:-1] not in seen, text

    @invariant()
    def stores_agree(self) -> None:
        assert self.m.health()["ok"], self.m.health()
        for user in self.users:
            scope = Scope(user_id=user)
            listed = self.m.get_all(user_id=user, include_invalid=True, limit=1000)
            stored = {r["id"] for r in listed["results"]}
            graph = self.m.parts.graph
            derived = {r.fact_id for r in graph.relations(scope, include_invalid=True)}
            assert derived <= stored, "the graph holds relations of missing memories"
            for rec in listed["results"]:
                assert self.m.history(rec["id"]), "a memory without history"


TestMemoryProperties = MemoryMachine.TestCase
