"""The matching rule of the extraction benchmark: when a predicted entity or triple is the
labelled one (see ``docs/extraction-quality.md``).

- Names: ASCII-folded, lower case, possessive ``'s`` removed, punctuation as spaces,
  articles (``a``, ``an``, ``the``) dropped, single spaces, and a final ``s`` of the last word
  ignored (``peanuts`` = ``peanut``; ``ss`` and words of up to 3 letters keep theirs). A
  name the gold gives as an alias of an entity is that entity.
- The speaker: ``USER`` (graphmem's name for the user), and ``I``, ``me``, ``myself``, which
  graphmem's entity resolution binds to the user's node as well.
- Relations: tense-free (irregular forms of ``IRREGULAR`` first, then each word stemmed as
  the ontology does: ``LIVED_IN`` = ``LIVES_IN``, ``WROTE`` = ``WRITES``), then one class
  per row of ``EQUIVALENT``; ``INVERSE`` relations and any
  ``<noun>_OF`` (``SISTER_OF(b, a)`` = ``HAS_SISTER(a, b)``) swap their ends; ``SYMMETRIC``
  ones match in either direction.
- Entity types: the classes of ``TYPE_CLASSES`` (``City`` = ``Location``, ``Thing`` =
  ``Concept``); any other type only itself.
"""

from __future__ import annotations

import re

from ..models import USER_ENTITY, ascii_fold, norm_name, relation_type
from ..ontology import stem

SPEAKER_NAMES = (USER_ENTITY, "I", "me", "myself")

#: words of relation types that the stemming cannot bring to the present tense
IRREGULAR = {
    **{"HAD": "HAS", "HAVE": "HAS", "WAS": "IS", "WERE": "IS", "ARE": "IS", "BE": "IS"},
    **{"WROTE": "WRITE", "WRITTEN": "WRITE", "MET": "MEET", "WON": "WIN", "SOLD": "SELL"},
    **{"BOUGHT": "BUY", "BUILT": "BUILD", "MADE": "MAKE", "WENT": "GO", "GOES": "GO"},
    **{"FLEW": "FLY", "FLIES": "FLY", "RAN": "RUN", "TAUGHT": "TEACH", "TOOK": "TAKE"},
    **{"KEPT": "KEEP", "HELD": "HOLD", "KNEW": "KNOW", "ATE": "EAT", "DRANK": "DRINK"},
    **{"SAW": "SEE", "GAVE": "GIVE", "BECAME": "BECOME", "LEFT": "LEAVE", "LED": "LEAD"},
    **{"SPOKE": "SPEAK", "GREW": "GROW", "BEGAN": "BEGIN", "LOST": "LOSE", "SANG": "SING"},
}
#: canonical relation → the relations that say the same (each matched tense-free)
EQUIVALENT: dict[str, tuple[str, ...]] = {
    "LIVES_IN": ("RESIDES_IN", "LIVES_AT", "MOVED_TO", "RELOCATED_TO", "HOME_IN"),
    "WORKS_AT": ("WORKS_FOR", "WORKS_IN", "EMPLOYED_BY", "EMPLOYED_AT", "JOB_AT"),
    "IS_A": ("IS", "IS_AN", "INSTANCE_OF", "TYPE_OF", "WORKS_AS", "HAS_JOB", "HAS_PROFESSION"),
    "LIKES": ("LOVES", "ENJOYS", "PREFERS", "ADORES", "ADMIRES", "FAN_OF", "HAS_FAVORITE"),
    "DISLIKES": ("HATES", "DETESTS", "NOT_LIKES", "CANNOT_STAND", "CANT_STAND", "NOT_STAND"),
    "LOCATED_IN": (
        *("BASED_IN", "HEADQUARTERED_IN", "LIES_IN", "SITUATED_IN", "IN"),
        *("HELD_IN", "KEPT_IN", "HOUSED_IN", "DISPLAYED_IN"),
    ),
    "FOUNDED": ("CO_FOUNDED", "COFOUNDED", "STARTED", "ESTABLISHED", "FOUNDER_OF"),
    "FOUNDED_IN": ("FORMED_IN", "ESTABLISHED_IN"),
    "WROTE": ("AUTHORED", "AUTHOR_OF", "WRITER_OF", "COMPOSED", "COMPOSER_OF"),
    "CREATED": ("INVENTED", "DEVELOPED", "DESIGNED", "BUILT", "MADE", "PRODUCED", "RELEASED"),
    "OWNS": ("BOUGHT", "PURCHASED", "ACQUIRED"),
    "VISITS": ("GOES_TO", "TRAVELS_TO", "TRAVELLED_TO", "FLIES_TO", "TRIP_TO"),
    "STUDIES_AT": ("EDUCATED_AT", "GRADUATED_FROM", "STUDENT_AT", "ENROLLED_AT"),
    "LEARNS": ("STUDIES", "IS_LEARNING"),
    "MARRIED_TO": ("HAS_WIFE", "HAS_HUSBAND", "HAS_SPOUSE", "SPOUSE_OF", "MARRIED"),
    "HAS_FRIEND": ("HAS_BEST_FRIEND", "FRIENDS_WITH", "BEST_FRIEND_OF"),
    "HAS_MANAGER": ("HAS_BOSS", "REPORTS_TO"),
    "HAS_NEIGHBOR": ("HAS_NEIGHBOUR",),
    "MET": ("MET_WITH",),
    "WON": ("RECEIVED", "AWARDED", "WINNER_OF"),
    "TOOK_PART_IN": ("PARTICIPATED_IN", "COMPETED_IN"),
    "FROM": ("COMES_FROM", "IS_FROM", "ORIGINATES_FROM", "HAS_HOMETOWN"),
    "BORN_IN": ("BIRTHPLACE", "BORN_AT", "PLACE_OF_BIRTH"),
    "DIED_IN": ("DIED_AT", "PLACE_OF_DEATH"),
    "WORKS_WITH": ("COLLABORATED_WITH", "COLLEAGUE_OF"),
}
#: relation → the canonical one it is the inverse of (its ends swap); ``<noun>_OF`` and
#: ``HAS_<noun>`` need no row (``relation_key``)
INVERSE: dict[str, str] = {
    **dict.fromkeys(("FOUNDED_BY", "CO_FOUNDED_BY", "STARTED_BY"), "FOUNDED"),
    **dict.fromkeys(("WRITTEN_BY", "AUTHORED_BY", "COMPOSED_BY", "HAS_AUTHOR"), "WROTE"),
    **dict.fromkeys(("CREATED_BY", "INVENTED_BY", "DEVELOPED_BY", "DESIGNED_BY"), "CREATED"),
    **dict.fromkeys(("BUILT_BY", "MADE_BY", "PRODUCED_BY", "RELEASED_BY"), "CREATED"),
    **dict.fromkeys(("OWNED_BY", "ACQUIRED_BY", "BOUGHT_BY"), "OWNS"),
    **dict.fromkeys(("EMPLOYS", "HAS_EMPLOYEE"), "WORKS_AT"),
}
#: relations that hold both ways
SYMMETRIC = ("KNOWS", "MARRIED_TO", "HAS_FRIEND", "HAS_NEIGHBOR", "MET", "WORKS_WITH")
#: entity types that count as the same (compared lower case, letters only)
TYPE_CLASSES: tuple[tuple[str, ...], ...] = (
    ("Person", "Human", "Character"),
    ("Organization", "Organisation", "Org", "Company", "Business", "Startup", "University"),
    ("Organization", "School", "Institution", "Band", "Team", "Agency", "Museum"),
    ("Location", "Place", "City", "Country", "Region", "Town", "Village", "State", "Gpe"),
    ("Location", "Loc", "River", "Lake", "Mountain", "Island", "Continent", "Landmark"),
    ("Location", "Building", "Facility", "Fac"),
    ("Work", "WorkOfArt", "Book", "Novel", "Film", "Movie", "Song", "Album", "Opera"),
    ("Work", "Painting", "Artwork", "Artifact", "Artefact"),
    ("Event", "Festival", "Competition", "Race", "Marathon"),
    ("Product", "Device", "Software", "Gadget"),
    ("Concept", "Thing", "Activity", "Food", "Hobby", "Profession", "Job", "Sport"),
    ("Concept", "Instrument", "Subject", "Topic", "Dish", "Drink", "Role", "Occupation"),
    ("Animal", "Pet", "Dog", "Cat"),
    ("Award", "Prize", "Honor", "Honour", "Title"),
    ("Group", "Nationality", "Norp", "Ethnicity"),
)

_POSSESSIVE = re.compile(r"'s\b|(?<=s)'(?=\s|$)")


def name_key(name: str) -> str:
    """A name as the rule compares it (``The Beatles'`` → ``beatle``)."""
    text = _POSSESSIVE.sub("", ascii_fold(name).replace("’", "'").lower())
    words = norm_name(text).split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


def _stemmed(relation: str) -> str:
    words = relation_type(relation).split("_")
    return "_".join(stem(IRREGULAR.get(w, w)) for w in words)


def _classes() -> dict[str, tuple[str, bool]]:
    """Stemmed relation → (its class, whether its ends swap)."""
    out = {_stemmed(n): (_stemmed(c), False) for c, ns in EQUIVALENT.items() for n in (c, *ns)}
    out.update({_stemmed(n): (_stemmed(c), True) for n, c in INVERSE.items()})
    return out


_CLASS = _classes()
_SYMMETRIC = frozenset(_stemmed(r) for r in SYMMETRIC)
_TYPES = {t.lower(): c[0] for c in TYPE_CLASSES for t in c}
SPEAKER_KEYS = frozenset(name_key(n) for n in SPEAKER_NAMES)
USER_KEY = name_key(USER_ENTITY)


def relation_key(relation: str) -> tuple[str, bool]:
    """The relation's class, and whether its ends swap to match that class's direction
    (a relation that is no relation type, e.g. empty, is its own class)."""
    try:
        key = _stemmed(relation)
    except ValueError:
        return relation, False
    if key in _CLASS:
        return _CLASS[key]
    words = key.split("_")
    if len(words) >= 2 and words[-1] == "of" and words[0] != "has":  # SISTER_OF = HAS_SISTER⁻¹
        return "_".join(["has", *words[:-1]]), True
    return key, False


Triple = tuple[str, str, str]


def triple_key(source: str, relation: str, target: str, names: dict[str, str]) -> Triple:
    """A triple as the rule compares it; ``names`` maps name keys to the entity they are
    (aliases, the speaker's names) and defaults to the key itself."""
    s, t = (names.get(k, k) for k in (name_key(source), name_key(target)))
    rel, inverse = relation_key(relation)
    if inverse:
        s, t = t, s
    if rel in _SYMMETRIC and t < s:
        s, t = t, s
    return s, rel, t


def type_key(entity_type: str | None) -> str:
    """An entity type's class (lower case; None and unknown types are themselves)."""
    if not entity_type:
        return ""
    letters = re.sub(r"[^a-z]", "", entity_type.lower())
    return _TYPES.get(letters, letters).lower()
