"""Extraction quality: triple precision and recall, and entity F1, of the configured
extractor against a labelled set (``benchmarks/data/extraction.jsonl``; the matching rule
is ``graphmem.bench.matching``, documented in ``docs/extraction-quality.md``).

Each item's text is extracted as one user turn without a name (the speaker is ``USER``),
the offline extractor all in one batch, the LLM one call per item. Predicted triples are the
extraction's relations but its co-mention edges (``MENTIONED_WITH``: sentence neighbours,
not claims); predicted entities are its entities and the ends of its triples. Both are
compared as sets per item (duplicates after normalisation count once) and summed over the
items (micro averages). An item whose extraction fails predicts nothing (``failed``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import usage
from ..config import Config
from ..errors import ExtractionError
from ..extract import LLMExtractor, SpacyExtractor
from ..factory import make_llm
from ..models import RELATION_TYPE
from ..prompts import Extraction
from ..protocols import Extractor
from ..retrieve.connect import CO_MENTION
from .common import console, machine, progress
from .datasets import BenchError, DatasetError
from .matching import SPEAKER_KEYS, USER_KEY, Triple, name_key, triple_key, type_key


@dataclass(frozen=True)
class Item:
    """One labelled sentence: its gold entities (name, type), aliases and triples."""

    id: str
    kind: str
    text: str
    entities: tuple[tuple[str, str], ...]
    triples: tuple[Triple, ...]
    aliases: dict[str, str] = field(default_factory=dict)  # name key → entity's name key

    def names(self) -> dict[str, str]:
        """Name key → the entity it is: the gold aliases and the speaker's names."""
        return {**dict.fromkeys(SPEAKER_KEYS, USER_KEY), **self.aliases}


def load_labelled(path: Path) -> list[Item]:
    """The items of a labelled JSON Lines file ('#' lines and blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    items: list[Item] = []
    for no, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                items.append(_item(json.loads(line), len(items)))
            except (ValueError, TypeError, KeyError) as e:
                raise DatasetError(f"{path}:{no}: not a labelled item ({e})") from e
    if not items:
        raise DatasetError(f"{path} holds no labelled items")
    return items


def _item(raw: dict[str, Any], index: int) -> Item:
    entities, aliases = [], {}
    for name, type_, *rest in raw.get("entities", []):
        entities.append((str(name), str(type_)))
        aliases.update({name_key(a): name_key(name) for a in (rest[0] if rest else [])})
    known = {name_key(n) for n, _ in entities} | set(aliases) | {USER_KEY}
    triples = []
    for s, r, t in raw["triples"]:
        if not RELATION_TYPE.match(r):
            raise ValueError(f"relation {r!r} is not UPPER_SNAKE_CASE")
        if not {name_key(s), name_key(t)} <= known:
            raise ValueError(f"triple {[s, r, t]} names an entity the item does not list")
        triples.append((str(s), str(r), str(t)))
    text = raw["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty text")
    return Item(
        str(raw.get("id", index)),
        str(raw.get("kind", "other")),
        text,
        tuple(entities),
        tuple(triples),
        aliases,
    )


# -- scoring -------------------------------------------------------------------------------
def prf(tp: int, predicted: int, gold: int) -> dict[str, Any]:
    """Precision, recall and F1 (0 when undefined) with the counts they come from."""
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "predicted": predicted,
        "gold": gold,
    }


def score_item(item: Item, extraction: Extraction) -> dict[str, Any]:
    """Counts of one item: triples (labelled, and by their ends only), entities, types."""
    names = item.names()

    def key(name: str) -> str:
        k = name_key(name)
        return names.get(k, k)

    rels = [r for f in extraction.facts for r in f.relations if r.relation != CO_MENTION]
    pred = {triple_key(r.source, r.relation, r.target, names) for r in rels}
    pred = {t for t in pred if t[0] and t[2] and t[0] != t[2]}
    gold = {triple_key(s, r, t, names) for s, r, t in item.triples}
    types = {key(e.name): e.type for e in reversed(extraction.entities)}  # the first wins
    types.setdefault(USER_KEY, "Person")  # graphmem's user node
    pred_entities = {key(e.name) for e in extraction.entities} | {k for t in pred for k in t[::2]}
    pred_entities.discard("")
    gold_types = {key(n): t for n, t in item.entities}
    hits = pred_entities & set(gold_types)
    return {
        "triples": _counts(pred, gold),
        "pairs": _counts({frozenset(t[::2]) for t in pred}, {frozenset(t[::2]) for t in gold}),
        "entities": _counts(pred_entities, set(gold_types)),
        "typed": sum(type_key(types.get(k)) == type_key(gold_types[k]) for k in hits),
        "missed": sorted(map(list, gold - pred)),
        "extra": sorted(map(list, pred - gold)),
        "co_mentions": sum(r.relation == CO_MENTION for f in extraction.facts for r in f.relations),
    }


def _counts(pred: set[Any], gold: set[Any]) -> list[int]:
    return [len(pred & gold), len(pred), len(gold)]


def aggregate(scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Micro-averaged figures over the scored items."""
    sums = {k: [sum(s[k][i] for s in scored) for i in range(3)] for k in ("triples", "pairs")}
    entities = [sum(s["entities"][i] for s in scored) for i in range(3)]
    typed = sum(s["typed"] for s in scored)
    return {
        "items": len(scored),
        "triples": prf(*sums["triples"]),
        "triples_by_ends": prf(*sums["pairs"]),
        "entities": prf(*entities),
        "entity_type_accuracy": round(typed / entities[0], 4) if entities[0] else 0.0,
    }


# -- running -------------------------------------------------------------------------------
EXTRACTORS = ("offline", "llm")


@dataclass
class ExtractionOptions:
    #: each measured in turn: offline (spaCy), llm (the GRAPHMEM_LLM_* settings)
    extractors: tuple[str, ...] = ("offline",)
    limit: int | None = None


def make_extractor(config: Config) -> tuple[Extractor, Any]:
    """The extractor ``config`` selects (with its ontology) and its LLM client, if any."""
    ontology = config.schema_ontology()
    llm = make_llm(config)
    if llm is not None:
        if not config.llm_configured:
            raise BenchError("--extractor llm needs GRAPHMEM_LLM_BASE_URL or GRAPHMEM_LLM_API_KEY")
        return LLMExtractor(llm, ontology), llm
    return SpacyExtractor(config.spacy_model, ontology), None


def run_extraction(data: Path, opts: ExtractionOptions) -> dict[str, Any]:
    """Every extractor of ``opts`` on the labelled items of ``data``."""
    bad = [e for e in opts.extractors if e not in EXTRACTORS]
    if bad or not opts.extractors:
        raise BenchError(f"--extractor takes offline and/or llm, not {bad}")
    items = load_labelled(data)[: opts.limit]
    configs = {name: Config.load({"extractor": name}) for name in opts.extractors}
    return {
        "bench": "extraction",
        "dataset": data.stem,
        "n_items": len(items),
        "kinds": {k: sum(i.kind == k for i in items) for k in dict.fromkeys(i.kind for i in items)},
        "machine": machine(),
        "runs": {name: measure(items, config) for name, config in configs.items()},
    }


def measure(items: list[Item], config: Config) -> dict[str, Any]:
    """One extractor's figures on ``items``, with its time and LLM usage."""
    extractor, llm = make_extractor(config)
    if llm is None:  # spaCy loaded outside the timed region
        extractor.extract([{"role": "user", "content": "Warm Up lives in Springfield."}])
    meter = usage.Meter(config.llm_prices)
    start = time.perf_counter()
    extractions, per_item, errors = _extract(extractor, llm is not None, items, meter)
    seconds = time.perf_counter() - start
    scored = [score_item(i, x) for i, x in zip(items, extractions)]
    totals = meter.report()
    return {
        "extractor": type(extractor).__name__,
        "model": llm.model if llm is not None else config.spacy_model,
        "structured_output": llm.mode if llm is not None else None,
        "ontology": config.schema_ontology() is not None,
        "seconds": round(seconds, 2),
        "seconds_per_item": round(seconds / len(items), 3),
        "load_end": machine()["load"],
        "failed": len(errors),
        "co_mentions_left_out": sum(s["co_mentions"] for s in scored),
        "usage": totals,
        "tokens_per_item": {
            k: round(totals[k] / len(items), 1) for k in ("prompt_tokens", "completion_tokens")
        },
        "overall": aggregate(scored),
        "by_kind": {
            k: aggregate([s for s, i in zip(scored, items) if i.kind == k])
            for k in dict.fromkeys(i.kind for i in items)
        },
        "per_item": [
            {
                "id": i.id,
                "triples": s["triples"],
                "missed": s["missed"],
                "extra": s["extra"],
                **({"usage": u} if u else {}),
                **({"error": errors[n]} if n in errors else {}),
            }
            for n, (i, s, u) in enumerate(zip(items, scored, per_item))
        ],
    }


def _extract(
    extractor: Extractor, one_call_each: bool, items: list[Item], meter: usage.Meter
) -> tuple[list[Extraction], list[dict[str, Any]], dict[int, str]]:
    """The extraction of each item, its LLM usage, and the errors of the failed ones."""
    batches = [[{"role": "user", "content": i.text}] for i in items]
    if not one_call_each:
        return extractor.extract_many(batches), [{} for _ in items], {}
    out, used, errors = [], [], {}
    with progress() as bar:
        task = bar.add_task("extracting", total=len(items))
        for n, batch in enumerate(batches):
            with usage.metered(meter) as call:
                try:
                    out.append(extractor.extract(batch))
                except ExtractionError as e:
                    console.print(f"[yellow]{items[n].id}: {e}[/yellow]")
                    errors[n] = str(e)[:300]
                    out.append(Extraction())
            used.append(call.report())
            bar.advance(task)
    return out, used, errors
