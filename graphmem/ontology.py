"""Your own ontology: the entity and relation types extraction may produce.

Given in the config (``ontology``, ``GRAPHMEM_ONTOLOGY`` as JSON)::

    {"entities": {"Person": "a human", "Company": {"description": "a business",
                                                   "aliases": ["Organization"]}},
     "relations": {"WORKS_AT": {"description": "employment", "source": ["Person"],
                                "target": ["Company"]}},
     "other_relations": "drop"}

and, from Python, pydantic models for the attributes of entity types (``entity_types``
in the config, or a model as an entity's value): their fields join the extraction schema.

Names are checked as the graph stores check them (``models.LABEL`` for entity types,
``models.RELATION_TYPE`` for relation types): they become Neo4j labels and relationship
types. How each extractor keeps to the ontology:

- LLM: the reply's schema lists the allowed names as enums of the entity ``type`` and the
  relation ``relation``, and the prompt gives their descriptions; a reply is validated
  against it (see :meth:`Ontology.reply_schema`).
- Both (the offline one's only way): an entity type maps onto the declared type of that name
  or alias (case ignored), else onto ``default_entity`` (``Thing``, always allowed). A
  relation maps onto the declared type of that name or alias, else onto the declared type
  whose first word has the stem of the relation's verb, its first word (``LIVED_IN``,
  ``LIVE_IN`` → ``LIVES_IN``; ``WORKS_AT`` → ``WORKS_FOR``; never for ``HAS_``, ``IS_``,
  ``NOT_`` relations), more shared words first, then the order declared. A relation that
  maps onto nothing, or whose ends' types are not the declared ``source``/``target``, is
  dropped (``other_relations = "drop"``) or kept as ``generic_relation`` (``RELATED_TO``,
  ``other_relations = "keep_generic"``).

Entity attributes are extracted and validated (an invalid set is dropped, the entity kept),
then kept on the entity in the graph (``Entity.attributes``, JSON values, nulls left out) and
merged over its mentions: per key, the latest value that is not null (``resolve.py``).
"""

from __future__ import annotations

import functools
import logging
import operator
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from .models import LABEL, RELATION_TYPE, relation_type
from .prompts.extract import ExtractedEntity, ExtractedFact, ExtractedRelation, Extraction

log = logging.getLogger("graphmem")

#: first words of relations that say nothing of their own (no mapping by the verb)
AUXILIARIES = frozenset({"HAS", "HAVE", "IS", "BE", "NOT", "WAS"})
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""))


def stem(word: str) -> str:
    """A word without its inflection, enough to tell ``LIVES``, ``LIVED`` and ``LIVE`` alike."""
    w = word.lower()
    for suffix, replacement in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)] + replacement
    return w


class EntityType(BaseModel):
    """One entity type: what it means, the type names extractors give it (the offline
    extractor's ``Organization`` for a ``Company``), and (Python only) its attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    aliases: tuple[str, ...] = ()
    attributes: type[BaseModel] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"description": value}
        if isinstance(value, type) and issubclass(value, BaseModel):
            return {"description": (value.__doc__ or "").strip(), "attributes": value}
        return value


class RelationType(BaseModel):
    """One relation type: what it means, the entity types it may go from and to (none
    given: any), and the relation names extractors give it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    source: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"description": value} if isinstance(value, str) else value


class Ontology(BaseModel):
    """The entity and relation types extraction keeps to (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: dict[str, EntityType] = Field(default_factory=dict)
    relations: dict[str, RelationType] = Field(default_factory=dict)
    other_relations: Literal["drop", "keep_generic"] = "drop"
    generic_relation: str = "RELATED_TO"
    default_entity: str = "Thing"

    @model_validator(mode="after")
    def _valid_names(self) -> Ontology:
        bad = [n for n in (*self.entities, self.default_entity) if not LABEL.match(n)]
        if bad:
            raise ValueError(f"entity types must be CamelCase identifiers (A-Z first): {bad}")
        bad = [n for n in (*self.relations, self.generic_relation) if not RELATION_TYPE.match(n)]
        if bad:
            raise ValueError(f"relation types must be UPPER_SNAKE_CASE identifiers: {bad}")
        known = {*self.entities, self.default_entity}
        for name, spec in self.relations.items():
            unknown = sorted({*spec.source, *spec.target} - known)
            if unknown:
                raise ValueError(f"relation {name} names undeclared entity types {unknown}")
            for alias in spec.aliases:
                relation_type(alias)  # a name that cannot be a relation type is refused
        return self

    # -- mapping ---------------------------------------------------------------------------
    @property
    def entity_names(self) -> list[str]:
        """The entity types a reply may give (the declared ones and the default)."""
        default = [] if self.default_entity in self.entities else [self.default_entity]
        return [*self.entities, *default]

    @property
    def relation_names(self) -> list[str]:
        """The relation types a reply may give."""
        names = list(self.relations)
        if self.other_relations == "keep_generic" and self.generic_relation not in names:
            names.append(self.generic_relation)
        return names

    def entity_type(self, name: Any) -> str:
        """The declared type ``name`` stands for, else the default (no entity types
        declared: ``name`` itself)."""
        if not self.entities and isinstance(name, str) and name.strip():
            return name
        if isinstance(name, str):
            key = name.strip().lower()
            for declared, spec in self.entities.items():
                if key == declared.lower() or key in {a.lower() for a in spec.aliases}:
                    return declared
        return self.default_entity

    def relation(
        self, name: str, source: str | None = None, target: str | None = None
    ) -> str | None:
        """The allowed relation type ``name`` maps onto (its ends being of the entity types
        ``source`` and ``target``, None: unknown), else the generic one or None (dropped).
        No relation types declared: any relation is kept."""
        if not self.relations:
            return relation_type(name)
        found = self._declared(name)
        if found is not None:
            spec = self.relations[found]
            if _fits(source, spec.source) and _fits(target, spec.target):
                return found
        if self.other_relations == "keep_generic":
            return self.generic_relation
        return None

    def _declared(self, name: str) -> str | None:
        try:
            rel = relation_type(name)
        except ValueError:
            return None
        for declared, spec in self.relations.items():
            if rel == declared or rel in {relation_type(a) for a in spec.aliases}:
                return declared
        words = rel.split("_")
        if words[0] in AUXILIARIES:
            return None
        stems = {stem(w) for w in words}
        sharing = [
            (len(stems & {stem(w) for w in d.split("_")}), -i, d)
            for i, d in enumerate(self.relations)
            if stem(d.split("_")[0]) == stem(words[0])
        ]
        return max(sharing)[2] if sharing else None

    def apply(self, extraction: Extraction) -> Extraction:
        """``extraction`` on the ontology: entity types mapped, relations mapped (and their
        ends' types checked) or dropped / made generic."""
        entities = [
            e.model_copy(update={"type": self.entity_type(e.type)}) for e in extraction.entities
        ]
        types = {e.name.lower(): e.type for e in entities}
        facts = [self._fact(f, types) for f in extraction.facts]
        return extraction.model_copy(update={"entities": entities, "facts": facts})

    def _fact(self, fact: ExtractedFact, types: dict[str, str]) -> ExtractedFact:
        relations = []
        for r in fact.relations:
            rel = self.relation(
                r.relation, types.get(r.source.lower()), types.get(r.target.lower())
            )
            if rel is None:
                log.debug(
                    "ontology: dropping relation %s (%s → %s)", r.relation, r.source, r.target
                )
            else:
                relations.append(r if rel == r.relation else r.model_copy(update={"relation": rel}))
        return fact.model_copy(update={"relations": relations})

    # -- the LLM's side --------------------------------------------------------------------
    def prompt(self) -> str:
        """What is added to the extraction prompt: the allowed types and what they mean."""
        lines = [""]
        if self.entities:
            lines.append("Ontology: use only these entity types (the entity's type):")
            for name in self.entity_names:
                spec = self.entities.get(name)
                text = spec.description if spec else "anything that fits no other type"
                lines.append(f"- {name}" + (f": {text}" if text else ""))
        if self.relations:
            lines.append("Ontology: use only these relation types (the relation's relation):")
            for name, rel in self.relations.items():
                ends = f" ({'|'.join(rel.source) or 'any'} -> {'|'.join(rel.target) or 'any'})"
                text = f": {rel.description}" if rel.description else ""
                lines.append(f"- {name}{ends}{text}")
            if self.other_relations == "keep_generic":
                lines.append(f"- {self.generic_relation}: any other relation worth keeping")
            else:
                lines.append("Leave out relations that are none of these.")
        return "\n".join(lines) + "\n"

    @functools.cached_property
    def reply_schema(self) -> type[Extraction]:
        """The extraction reply's schema on this ontology: ``type`` and ``relation`` are enums
        of the allowed names; an entity type outside them becomes the default one, a relation
        outside them is mapped as :meth:`relation` does, else dropped (as an invalid item)."""
        entity = self._entity_model()
        relation = self._relation_model()
        fact = create_model(
            "ExtractedFact",
            __base__=ExtractedFact,
            relations=(list[relation], Field(default_factory=list)),  # type: ignore[valid-type]
        )
        return create_model(
            "Extraction",
            __base__=Extraction,
            facts=(list[fact], Field(default_factory=list)),
            entities=(list[entity], Field(default_factory=list)),  # type: ignore[valid-type]
        )

    def _entity_model(self) -> type[ExtractedEntity]:
        ontology = self

        def on_ontology(cls: Any, value: Any) -> str:
            return ontology.entity_type(value)

        def attributes(cls: Any, value: Any) -> Any:
            return ontology._attributes_of(value)

        fields: dict[str, Any] = {}
        validators: dict[str, Any] = {"_on_ontology": field_validator("type")(on_ontology)}
        if self.entities:
            enum = _enum(self.entity_names)
            fields["type"] = (str, Field(default=self.default_entity, json_schema_extra=enum))
        models = [s.attributes for s in self.entities.values() if s.attributes is not None]
        if models:
            union = functools.reduce(operator.or_, models)
            fields["attributes"] = (
                union | None,
                Field(default=None, description="the attributes of the entity's type"),
            )
            validators["_attributes"] = model_validator(mode="before")(attributes)
        return create_model(
            "ExtractedEntity", __base__=ExtractedEntity, __validators__=validators, **fields
        )

    def _attributes_of(self, value: Any) -> Any:
        """An entity's raw attributes, validated as its type's model (dropped if invalid)."""
        if not isinstance(value, dict) or value.get("attributes") is None:
            return value
        spec = self.entities.get(self.entity_type(value.get("type")))
        model = spec.attributes if spec else None
        try:
            attributes = model.model_validate(value["attributes"]) if model else None
        except ValidationError as e:
            log.warning(
                "LLM reply: dropping invalid attributes of %.80r (%s)", value.get("name"), e
            )
            attributes = None
        return {**value, "attributes": attributes}

    def _relation_model(self) -> type[ExtractedRelation]:
        ontology = self

        def on_ontology(cls: Any, value: str) -> str:
            rel = ontology.relation(value)
            if rel is None:
                raise ValueError(f"{value} is none of the relation types {ontology.relation_names}")
            return rel

        if not self.relations:
            return ExtractedRelation
        return create_model(
            "ExtractedRelation",
            __base__=ExtractedRelation,
            __validators__={"_on_ontology": field_validator("relation")(on_ontology)},
            relation=(
                str,
                Field(min_length=1, json_schema_extra=_enum(self.relation_names)),
            ),
        )


def _enum(names: list[str]) -> dict[str, Any]:
    return {"enum": list(names)}


def _fits(entity_type: str | None, allowed: tuple[str, ...]) -> bool:
    return entity_type is None or not allowed or entity_type in allowed


def combined(
    ontology: Ontology | None, entity_types: dict[str, type[BaseModel]]
) -> Ontology | None:
    """``ontology`` with the attribute models of ``entity_types`` (types it lacks added)."""
    if not entity_types:
        return ontology
    base = ontology or Ontology()
    entities: dict[str, Any] = dict(base.entities)
    for name, model in entity_types.items():
        spec = entities.get(name)
        description = spec.description if spec and spec.description else (model.__doc__ or "")
        aliases = spec.aliases if spec else ()
        entities[name] = EntityType(
            description=description.strip(), aliases=aliases, attributes=model
        )
    return Ontology.model_validate({**dict(base), "entities": entities})
