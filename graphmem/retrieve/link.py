"""Query → entities of the scope: n-gram lookup of normalised names and aliases."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..models import Entity, Scope, norm_name
from ..protocols import Embedder, GraphStore, VectorStore, rescale

_TOKEN = re.compile(r"\w+")
FIRST_PERSON = {"i", "me", "my", "mine", "myself"}


def ngrams(text: str, max_n: int = 5) -> list[str]:
    words = _TOKEN.findall(norm_name(text))
    return list(
        dict.fromkeys(
            " ".join(words[i : i + n])
            for n in range(1, max_n + 1)
            for i in range(len(words) - n + 1)
        )
    )


@dataclass(frozen=True)
class Linked:
    """The query's entities: id → seed weight, and id → the normalised names it matched by."""

    seeds: dict[str, float] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)


def link(graph: GraphStore, scope: Scope, query: str) -> Linked:
    """The entities of the scope that the query names. Longer (more specific) matches weigh
    more; the user node is linked by first-person words and weighs least, since everything
    hangs off it."""
    grams = ngrams(query)
    words = set(_TOKEN.findall(query.lower()))
    if words & FIRST_PERSON:
        grams.append("i")  # the user node's alias
    found: list[Entity] = graph.find_entities(scope, grams)
    seeds: dict[str, float] = {}
    names: dict[str, tuple[str, ...]] = {}
    for e in found:
        is_user = any(a == "USER" for a in e.aliases)
        if is_user and not (words & FIRST_PERSON or norm_name(e.name) in grams):
            continue
        length = (
            max(len(norm_name(n).split()) for n in e.names if norm_name(n) in grams)
            if not is_user
            else 1
        )
        kind = 0.3 if is_user or e.type == "Concept" else 1.0  # named entities are specific
        seeds[e.id] = kind * (1.0 + math.log1p(length))
        names[e.id] = tuple(dict.fromkeys(n for n in map(norm_name, e.names) if n in grams))
    return Linked(seeds, names)


#: words that never start or end a phrase worth looking up by name embedding
_STOP_WORDS = """
    a an the of in on at to for from by with about as into over after before during and or
    but is are was were be been being do does did has have had what which who whom whose
    when where why how this that these those it its he she they them his her their i me my
    we our you your there here than then so not no can could would should will may might
    must one both each many much more most some any other such same
"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[\w'’&+-]+(?:\.(?=\w))?")


def phrases(query: str, covered: set[str]) -> list[str]:
    """Phrases of the query that may name an entity but matched no name exactly: runs of words
    between stop words and words of the names matched, of two words or more, or capitalised."""
    runs: list[list[str]] = [[]]
    for w in _WORD.findall(query):
        if w.lower() in _STOP or norm_name(w) in covered:
            runs.append([])
        else:
            runs[-1].append(w)
    return [" ".join(r) for r in runs if len(r) > 1 or (r and r[0][:1].isupper())]


def link_similar(
    linked: Linked,
    query: str,
    scope: Scope,
    graph: GraphStore,
    entity_names: VectorStore,
    embedder: Embedder,
    threshold: float,
) -> Linked:
    """``linked`` plus the entities whose name embeds closest to a phrase of the query that
    matched no name exactly ("Tikhaya Sosna" → "Tikhaya Sosna River"), at ``threshold`` or
    more on the common scale. Such a seed weighs half an exact match of the same name."""
    covered = {w for ns in linked.names.values() for n in ns for w in n.split()}
    todo = phrases(query, covered)
    if not todo:
        return linked
    hits = entity_names.query_batch(scope, embedder.embed(todo, query=True), 1)
    close = {h[0][0].text for h in hits if h and rescale(h[0][1], embedder.floor) >= threshold}
    if not close:
        return linked
    seeds, names = dict(linked.seeds), dict(linked.names)
    for e in graph.find_entities(scope, sorted(norm_name(n) for n in close)):
        if e.id not in seeds:
            seeds[e.id] = 0.5 * (1.0 + math.log1p(len(norm_name(e.name).split())))
            names[e.id] = ()
    return Linked(seeds, names)


def without_names(query: str, names: list[str]) -> str:
    """``query`` with every mention of the normalised ``names`` (and its possessive) cut out:
    "What does Nate's sister like?" without "nate" is "What does sister like?"."""
    for name in sorted(names, key=len, reverse=True):
        words = r"\W+".join(map(re.escape, name.split()))
        query = re.sub(rf"\b{words}(?:['’]s)?\b", " ", query, flags=re.IGNORECASE)
    return re.sub(r"\s+([?.!,;:])", r"\1", re.sub(r"\s+", " ", query)).strip()


GENERIC = {"HAS", "IS", "A", "IN", "AT", "OF", "TO", "FROM", "WITH", "ON", "FOR", "MENTIONED"}


def _stems(words: set[str]) -> set[str]:
    """The words and their forms without a final "s": "lives" meets "live"."""
    return words | {w[:-1] for w in words if w.endswith("s") and len(w) > 3}


def relation_words(relation: str) -> set[str]:
    return _stems({w.lower() for w in relation.split("_") if w not in GENERIC and len(w) > 2})


#: verbs too common in questions ("What does she have?", "Where did he go?") to name a
#: relation of theirs: a free-form relation type (``HAVE_FOR``, ``GO_TO``) is not asked for
_LIGHT = (
    "have has get got make made take took go goes went do did does done be see saw seen want "
    "need feel think say said tell told come came give gave put let try use keep start look find"
)
LIGHT_VERBS = frozenset(_LIGHT.split())


def naming_words(relation: str) -> set[str]:
    """The words of a relation type that name it in a question (``LIVES_IN``: live, lives)."""
    return relation_words(relation) - LIGHT_VERBS


def query_words(query: str) -> set[str]:
    return _stems({w.lower() for w in _TOKEN.findall(query)})
