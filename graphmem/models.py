"""Typed values that cross module borders. Plain frozen dataclasses: no I/O here."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .errors import InvalidInputError

Event = Literal["ADD", "UPDATE", "DELETE", "NONE"]
RELATION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
LABEL = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
USER_ENTITY = "USER"
TITLE_KEY = "_title"  # metadata key of a source's title in the source vector store
FACTS_KEY = "_facts"  # metadata key of the ids of the facts distilled from a source (JSON)


def searchable(text: str, metadata: dict[str, Any]) -> str:
    """The text a record is embedded and indexed by: a titled passage leads with its title."""
    title = metadata.get(TITLE_KEY)
    return f"{title}: {text}" if title else text


def now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def parse_ts(value: str | float | datetime | None) -> datetime | None:
    """Accept ISO strings, epoch seconds or datetimes; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"not a timestamp: {value!r}")
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, int | float):
        try:
            ts = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as e:  # inf, nan, out of range
            raise InvalidInputError(f"not a timestamp: {value!r}") from e
    elif not isinstance(value, str):
        raise InvalidInputError(f"not a timestamp: {value!r:.80}")
    else:
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidInputError(f"not an ISO-8601 timestamp: {value!r}") from e
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


#: scope ids and memory ids are at most this long
MAX_ID_CHARS = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates): what every store can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value: object, what: str) -> str:
    """A scope id or memory id: a non-empty string of at most ``MAX_ID_CHARS`` characters,
    valid Unicode without control characters (so no id can break a scope key or a log line)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string: {value!r:.80}")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInputError(f"{what} is longer than {MAX_ID_CHARS} characters")
    if _CONTROL.search(value) or not encodable(value):
        raise InvalidInputError(f"{what} contains control characters or invalid Unicode")
    return value


def stable_id(*parts: str) -> str:
    """A deterministic UUID from its parts: replaying a write yields the same ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def new_id() -> str:
    return str(uuid.uuid4())


def partition(scope: Scope) -> str:
    """Token of the scope's owner (user, else agent, else run): the vector store keeps one
    partition per owner, so the common query needs no metadata filter at all."""
    kind, value = next((k, v) for k, v in scope.as_dict().items() if v is not None)
    return hashlib.sha1(f"{kind}\x1f{value}".encode()).hexdigest()[:16]


def fact_id(scope: Scope) -> str:
    """A new memory id that carries its partition: ``<partition>.<uuid4>``."""
    return f"{partition(scope)}.{uuid.uuid4()}"


def norm_name(name: str) -> str:
    """Normalised entity name: lower case, no articles or punctuation, single spaces."""
    text = re.sub(r"[^\w\s]", " ", name.lower())
    words = [w for w in text.split() if w not in {"the", "a", "an"}]
    return " ".join(words)


#: letters that Unicode does not decompose into an ASCII letter and a mark
_LIGATURES = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)


def ascii_fold(text: str) -> str:
    """``text`` transliterated to ASCII where Unicode allows (``épouse`` → ``epouse``,
    full-width letters → ASCII); what has no ASCII form is left as it is."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def relation_type(text: str) -> str:
    """Turn free text into a validated UPPER_SNAKE_CASE relation type of at most 64
    characters: transliterated to ASCII, anything else between words an underscore."""
    rel = re.sub(r"[^A-Za-z0-9]+", "_", ascii_fold(text).strip()).strip("_").upper()
    if rel and rel[0].isdigit():
        rel = "R_" + rel
    rel = rel[:64].rstrip("_")
    if not RELATION_TYPE.match(rel):
        raise InvalidInputError(f"invalid relation type: {text!r:.80}")
    return rel


def entity_label(text: str) -> str:
    """Turn an entity type into a validated CamelCase label (used as a Neo4j label)."""
    label = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", text) if p)
    if label and label[0].isdigit():
        label = "T" + label
    return label if LABEL.match(label) else "Thing"


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. At least one key is set; search matches every key given."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        values = (self.user_id, self.agent_id, self.run_id)
        if all(v is None for v in values):
            raise InvalidInputError("one of user_id, agent_id or run_id is required")
        for name, v in zip(("user_id", "agent_id", "run_id"), values):
            if v is not None:
                check_id(v, name)

    def items(self) -> dict[str, str]:
        return {k: v for k, v in self.as_dict().items() if v is not None}

    def as_dict(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}

    @property
    def key(self) -> str:
        """The ids joined by a control character, which no id may contain (``check_id``):
        unambiguous, and ``from_key`` reads it back."""
        return "\x1f".join(v or "" for v in (self.user_id, self.agent_id, self.run_id))

    def contains(self, other: Scope) -> bool:
        """True when ``other`` (a stored record's scope) matches this query scope."""
        return all(getattr(other, k) == v for k, v in self.items().items())

    @classmethod
    def from_key(cls, key: str) -> Scope:
        parts = key.split("\x1f")
        if len(parts) != 3:
            raise InvalidInputError(f"not a scope key: {key!r:.80}")
        u, a, r = parts
        return cls(u or None, a or None, r or None)


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    name: str
    type: str
    scope: Scope
    aliases: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=now)
    #: what is known of it, as JSON values: the fields of its type's attribute model
    #: (``graphmem.ontology``) that some mention gave, merged over mentions (``resolve.py``)
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def held_at(
    at: datetime, valid_from: datetime | None, created_at: datetime, invalid_at: datetime | None
) -> bool:
    """Whether a fact or relation held at ``at``: it began (at its event time, else when it was
    written) no later than ``at`` and had not stopped holding by then."""
    return (valid_from or created_at) <= at and (invalid_at is None or invalid_at > at)


@dataclass(frozen=True, slots=True)
class Relation:
    id: str
    source_id: str
    relation: str
    target_id: str
    fact_id: str
    scope: Scope
    valid_from: datetime | None = None
    invalid_at: datetime | None = None
    created_at: datetime = field(default_factory=now)
    weight: float = 1.0

    def held_at(self, at: datetime) -> bool:
        return held_at(at, self.valid_from, self.created_at, self.invalid_at)


@dataclass(frozen=True, slots=True)
class Source:
    """A message or passage that facts were distilled from (provenance)."""

    id: str
    scope: Scope
    content: str
    role: str = "user"
    title: str | None = None
    created_at: datetime = field(default_factory=now)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: what the source is read with (the messages before it, oldest first): embedded with it,
    #: not stored
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GraphBatch:
    """Everything one ``add`` writes to the graph, in one transaction."""

    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    mentions: tuple[tuple[str, str], ...] = ()  # (fact_id, entity_id)
    sources: tuple[Source, ...] = ()
    derived: tuple[tuple[str, str], ...] = ()  # (fact_id, source_id)
    facts: tuple[tuple[str, str], ...] = ()  # (fact_id, text): readable Fact nodes in Neo4j


@dataclass(frozen=True, slots=True)
class FactRecord:
    """A memory as stored in the vector store."""

    id: str
    text: str
    scope: Scope
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)
    updated_at: datetime | None = None
    valid_from: datetime | None = None
    invalid_at: datetime | None = None
    source_ids: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        return hashlib.md5(self.text.encode()).hexdigest()

    def held_at(self, at: datetime) -> bool:
        return held_at(at, self.valid_from, self.created_at, self.invalid_at)

    def to_result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "memory": self.text,
            "hash": self.hash,
            "metadata": dict(self.metadata),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "valid_from": iso(self.valid_from),
            "invalid_at": iso(self.invalid_at),
        }
        out.update(self.scope.items())
        return out


@dataclass(frozen=True, slots=True)
class Subgraph:
    """The bounded neighbourhood a retriever works on."""

    entities: dict[str, Entity]
    relations: list[Relation]
    mentions: list[tuple[str, str]]  # (fact_id, entity_id)
    degree: dict[str, int] = field(default_factory=dict)  # entity id → facts mentioning it
