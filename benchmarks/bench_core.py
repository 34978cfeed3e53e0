"""Write- and read-path benchmark of the embedded default stack.

Chroma PersistentClient + NetworkX/SQLite graph + the default ONNX embedder + the spaCy
offline extractor; no LLM anywhere. Only the public API (``Memory``, ``Config``) is used.

    python benchmarks/bench_core.py --sizes 1000 10000 --queries 200 \
        --out benchmarks/results/core.json

Writes the JSON to ``--out`` and a Markdown table next to it (same stem, ``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphmem import Config, Memory
from graphmem.bench.common import console, progress


def _split(text: str, sep: str | None = None) -> list[str]:
    return [w.strip() for w in text.split(sep) if w.strip()]


# -- vocabulary ---------------------------------------------------------------------------
FIRST = _split("""
Alice Bob Carol Dave Erin Frank Gina Hana Ivan Julia Kai Lena Marco Nora Oscar Priya Quinn
Rosa Sam Tara Umar Vera Walter Xenia Yusuf Zoe Aaron Bianca Caleb Daria Elias Fatima Gabriel
Helga Igor Jasmine Kenji Lucia Mateo Nadia Olga Pavel Rafael Sofia Tomas Ulla Viktor Wanda
Yara Zaid Amara Bruno Chiara Dmitri Esther Felix Greta Hugo Ingrid Jonas Klara Leon Mila
Nikolai Paula""")
LAST = _split("""
Novak Chen Diaz Kim Walsh Otto Park Sato Petrov Roth Berg Vogel Rossi Haddad Okafor Larsen
Moreau Tanaka Silva Kowalski Nguyen Fischer Ivanova Mendez Schulz Horvat Lindqvist Costa
Dubois Yilmaz Novotny Jensen Kaur Muller Bauer Romano Hoffmann Sharma Ortiz Kovacs Weber
Nakamura Brennan Castillo Ahmed Svensson Lopez Wagner Ferreira Gallo Kruger Mori Nowak
Petersen Rahman Santos Becker Varga Adeyemi Eriksen""")
COMPANIES = _split(
    """
Acme Robotics|Globex|Initech|Umbrella Labs|Stark Industries|Wayne Enterprises|Hooli|
Pied Piper|Soylent Systems|Cyberdyne|Tyrell Corporation|Aperture Science|Vandelay Industries|
Wonka Foods|Gringotts Bank|Oscorp|Massive Dynamic|Nakatomi Trading|Monarch Solutions|Virtucon|
Dunder Mifflin|Bluth Company|Prestige Worldwide|Sterling Cooper|Zorg Industries|Blue Sun|
Weyland Yutani|Rekall|Omni Consumer Products|Gekko Partners|Lacuna Inc|Spacely Sprockets|
Cogswell Cogs|Krusty Krab|Los Pollos Hermanos|Duff Brewing|Buy More|Nordic Wind Power|
Helios Solar|Quantum Leap Analytics""",
    "|",
)
CITIES = _split("""
Berlin Munich Hamburg Vienna Zurich Paris Lyon Madrid Barcelona Lisbon Porto Rome Milan
Naples Prague Warsaw Krakow Budapest Amsterdam Rotterdam Brussels Copenhagen Stockholm Oslo
Helsinki Dublin London Manchester Edinburgh Toronto Montreal Vancouver Boston Chicago Seattle
Denver Austin Atlanta Miami Tokyo Osaka Kyoto Seoul Taipei Singapore Bangkok Sydney Melbourne
Auckland Nairobi Lagos Cairo Istanbul Athens Bucharest Sofia Tallinn Riga Vilnius Reykjavik""")
FOODS = _split(
    """
Thai curry|ramen|sushi|pizza margherita|tacos al pastor|pad see ew|pho|kimchi stew|
Ethiopian injera|falafel|shakshuka|paella|risotto|goulash|pierogi|dim sum|biryani|
butter chicken|ceviche|empanadas|moussaka|bibimbap|Peking duck|croissants|churros|baklava|
tiramisu|gelato|mac and cheese|fish and chips|lasagna|poutine|jollof rice|laksa|katsu curry|
tom yum soup|Greek salad|banh mi|feijoada|schnitzel""",
    "|",
)
HOBBIES = _split(
    """
rock climbing|chess|sailing|pottery|birdwatching|salsa dancing|trail running|
woodworking|photography|scuba diving|knitting|archery|fencing|gardening|kayaking|painting|
surfing|calligraphy|beekeeping|skiing|bouldering|origami|juggling|astronomy|cycling|
tennis|squash|yoga|karate|snowboarding""",
    "|",
)
SUBJECTS = _split(
    """
physics|chemistry|economics|history|linguistics|mathematics|philosophy|biology|
architecture|computer science|law|medicine|music theory|geology|statistics""",
    "|",
)
UNIVERSITIES = _split(
    """
ETH Zurich|Oxford|Cambridge|Sorbonne|MIT|Stanford|TU Munich|KTH|Heidelberg|
Bologna|McGill|Kyoto University|Charles University|Delft|Leiden|Uppsala|Princeton|Yale|
Humboldt University|Trinity College""",
    "|",
)
PROJECTS = _split(
    """
Falcon|Orion|Atlas|Phoenix|Hermes|Nimbus|Apollo|Zephyr|Titan|Aurora|Mercury|Juno|
Pegasus|Vega|Helix|Quasar|Nova|Sirius|Cobalt|Ember""",
    "|",
)
EVENTS = _split(
    """
PyCon|KubeCon|Web Summit|CES|DEF CON|NeurIPS|Strata|FOSDEM|RustConf|JSConf|
the Berlin Marathon|Oktoberfest|Burning Man|Glastonbury|Comic Con""",
    "|",
)
CARS = _split(
    """
Volvo|Tesla|Toyota Prius|Fiat Panda|Mini Cooper|Subaru Outback|Skoda Octavia|
Honda Civic|Volkswagen Golf|Porsche Cayenne|Jeep Wrangler|Renault Clio""",
    "|",
)
COLORS = _split("red blue green black white silver yellow orange grey brown")
PETS = _split("beagle poodle parrot tabby cat hamster labrador husky corgi tortoise dachshund")
PET_NAMES = _split("""
Pixel Biscuit Mochi Pepper Luna Ziggy Nugget Olive Waffles Pumpkin Socks Tofu
Bagel Clover Noodle Peanut Maple Sprout Button Comet""")
INSTRUMENTS = _split("piano|violin|cello|drums|bass guitar|saxophone|trumpet|ukulele|harp", "|")
MONTHS = _split("January February March April May June July August September October November")
MONTHS.append("December")
RELATIVES = _split("sister brother cousin neighbour colleague friend aunt uncle mentor roommate")
USERS = ["alice", "bob", "carol", "dave", "erin"]


@dataclass
class Person:
    name: str
    company: str
    city: str
    born: str
    university: str
    subject: str


@dataclass
class UserCorpus:
    user: str
    people: list[Person]
    facts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)


class CorpusBuilder:
    """Deterministic personal facts for one user. Single-valued facts (works at, born in,
    manager, ...) are fixed per person so nothing contradicts anything; every (template,
    subject, object) key is used at most once so no fact is a near-duplicate by design."""

    def __init__(self, rng: random.Random, user: str, n_people: int) -> None:
        self.rng, self.user = rng, user
        names: set[str] = set()
        while len(names) < n_people:
            names.add(f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        self.people = [
            Person(
                n,
                rng.choice(COMPANIES),
                rng.choice(CITIES),
                rng.choice(CITIES),
                rng.choice(UNIVERSITIES),
                rng.choice(SUBJECTS),
            )
            for n in sorted(names)
        ]
        self.manager = {p.name: rng.choice(self.people).name for p in self.people}
        self.used: set[tuple[Any, ...]] = set()
        self.corpus = UserCorpus(user, self.people)

    def person(self) -> Person:
        return self.rng.choice(self.people)

    def other(self, p: Person) -> Person:
        while True:
            q = self.person()
            if q.name != p.name:
                return q

    def _take(self, key: tuple[Any, ...], text: str, *queries: str) -> bool:
        if key in self.used:
            return False
        self.used.add(key)
        self.corpus.facts.append(text)
        self.corpus.queries.extend(queries)
        return True

    # each template returns True when it produced a new fact
    def works(self) -> bool:
        p = self.person()
        return self._take(
            ("works", p.name),
            f"{p.name} works at {p.company} in {p.city}.",
            f"Where does {p.name} work?",
            f"Who works at {p.company}?",
        )

    def born(self) -> bool:
        p = self.person()
        return self._take(
            ("born", p.name), f"{p.name} was born in {p.born}.", f"Where was {p.name} born?"
        )

    def studied(self) -> bool:
        p = self.person()
        return self._take(
            ("studied", p.name),
            f"{p.name} studied {p.subject} at {p.university}.",
            f"What did {p.name} study?",
            f"Who studied at {p.university}?",
        )

    def manages(self) -> bool:
        p = self.person()
        boss = self.manager[p.name]
        if boss == p.name:
            return False
        return self._take(
            ("manager", p.name),
            f"{boss} manages {p.name} on the {p.company} team.",
            f"Who manages {p.name}?",
            f"Where does the manager of {p.name} work?",
        )

    def likes_food(self) -> bool:
        p, food = self.person(), self.rng.choice(FOODS)
        verb = self.rng.choice(["loves", "really enjoys", "often cooks"])
        return self._take(
            ("food", p.name, food), f"{p.name} {verb} {food}.", f"What food does {p.name} like?"
        )

    def hobby(self) -> bool:
        p, h = self.person(), self.rng.choice(HOBBIES)
        when = self.rng.choice(["on weekends", "every Tuesday", "after work", "during the summer"])
        return self._take(
            ("hobby", p.name, h),
            f"{p.name} goes {h} {when}."
            if h.endswith("ing")
            else f"{p.name} practises {h} {when}.",
            f"What hobbies does {p.name} have?",
        )

    def knows(self) -> bool:
        p = self.person()
        q = self.other(p)
        proj = self.rng.choice(PROJECTS)
        return self._take(
            ("knows", *sorted((p.name, q.name))),
            f"{p.name} knows {q.name} from the {proj} project.",
            f"Who knows {q.name}?",
            f"Who worked with {p.name} on the {proj} project?",
        )

    def met(self) -> bool:
        p = self.person()
        q = self.other(p)
        ev, city, year = (
            self.rng.choice(EVENTS),
            self.rng.choice(CITIES),
            self.rng.randint(2009, 2024),
        )
        return self._take(
            ("met", *sorted((p.name, q.name))),
            f"{p.name} met {q.name} at {ev} in {city} in {year}.",
            f"Where did {p.name} meet {q.name}?",
            f"Who did {q.name} meet at {ev}?",
        )

    def visited(self) -> bool:
        p, city = self.person(), self.rng.choice(CITIES)
        month, year = self.rng.choice(MONTHS), self.rng.randint(2005, 2024)
        return self._take(
            ("visited", p.name, city),
            f"{p.name} visited {city} in {month} {year}.",
            f"When did {p.name} visit {city}?",
        )

    def pet(self) -> bool:
        p = self.person()
        kind, pet_name = self.rng.choice(PETS), self.rng.choice(PET_NAMES)
        return self._take(
            ("pet", p.name),
            f"{p.name} owns a {kind} named {pet_name}.",
            f"What pet does {p.name} have?",
        )

    def car(self) -> bool:
        p = self.person()
        rel, color, car = self.rng.choice(RELATIVES), self.rng.choice(COLORS), self.rng.choice(CARS)
        return self._take(
            ("car", p.name),
            f"My {rel} {p.name} drives {'an' if color[0] in 'aeiou' else 'a'} {color} {car}.",
            f"What car does my {rel} {p.name} drive?",
            f"What does {p.name} drive?",
        )

    def instrument(self) -> bool:
        p, ins = self.person(), self.rng.choice(INSTRUMENTS)
        return self._take(
            ("instrument", p.name, ins),
            f"{p.name} plays the {ins} in a band called {self.rng.choice(PROJECTS)} Sound.",
            f"Which instrument does {p.name} play?",
        )

    def first_person(self) -> bool:
        kind = self.rng.randrange(4)
        if kind == 0:
            food = self.rng.choice(FOODS)
            return self._take(("i_food", food), f"I love {food}.", "What food do I like?")
        if kind == 1:
            city, month, year = (
                self.rng.choice(CITIES),
                self.rng.choice(MONTHS),
                self.rng.randint(2005, 2024),
            )
            return self._take(
                ("i_visit", city),
                f"I travelled to {city} in {month} {year}.",
                "Which cities did I visit?",
                f"When did I travel to {city}?",
            )
        if kind == 2:
            h = self.rng.choice(HOBBIES)
            return self._take(
                ("i_hobby", h),
                f"I started {h} lessons with {self.person().name}.",
                "What hobbies do I have?",
            )
        p = self.person()
        return self._take(
            ("i_lunch", p.name),
            f"I had lunch with {p.name} near the {p.company} office.",
            "Who did I have lunch with?",
            f"Where did I meet {p.name} for lunch?",
        )

    def build(self, n: int) -> UserCorpus:
        templates: list[tuple[Callable[[], bool], int]] = [
            (self.works, 4),
            (self.born, 2),
            (self.studied, 2),
            (self.manages, 2),
            (self.likes_food, 4),
            (self.hobby, 3),
            (self.knows, 4),
            (self.met, 3),
            (self.visited, 3),
            (self.pet, 1),
            (self.car, 1),
            (self.instrument, 1),
            (self.first_person, 1),
        ]
        fns = [f for f, _ in templates]
        weights = [w for _, w in templates]
        misses = 0
        while len(self.corpus.facts) < n:
            if not self.rng.choices(fns, weights)[0]():
                misses += 1
                if misses > 200 * n:
                    raise RuntimeError("vocabulary too small for the requested corpus size")
        return self.corpus


def build_corpus(total: int, seed: int = 0, users: list[str] = USERS) -> list[UserCorpus]:
    rng = random.Random(seed)
    per_user = [
        total // len(users) + (1 if i < total % len(users) else 0) for i in range(len(users))
    ]
    pairs = zip(users, per_user, strict=True)
    return [CorpusBuilder(rng, u, max(20, n // 6)).build(n) for u, n in pairs]


def documents(corpora: list[UserCorpus], per_doc: int) -> list[tuple[str, str, int]]:
    """(user_id, text, sentences) of ``per_doc`` sentences each, users interleaved."""
    per_user = [
        [
            (c.user, " ".join(c.facts[i : i + per_doc]), len(c.facts[i : i + per_doc]))
            for i in range(0, len(c.facts), per_doc)
        ]
        for c in corpora
    ]
    out: list[tuple[str, str, int]] = []
    for i in range(max(len(d) for d in per_user)):
        out += [d[i] for d in per_user if i < len(d)]
    return out


def queries_for(corpora: list[UserCorpus], n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool = [(c.user, q) for c in corpora for q in dict.fromkeys(c.queries)]
    return [rng.choice(pool) for _ in range(n)]


# -- measurement --------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "load": [round(x, 2) for x in load]}


@contextmanager
def memory(data_dir: Path | None, tag: str, keep: bool) -> Iterator[tuple[Memory, Config]]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"graphmem-bench-{tag}-", dir=data_dir))
    config = Config.load({"data_dir": root, "extractor": "offline"})
    if config.extractor != "offline":
        raise SystemExit("benchmark must run with the offline extractor (no LLM)")
    mem = Memory(config)
    try:
        # load spaCy, ONNX and Chroma outside the timed region, in a scope we never count
        mem.add("Warm Up works at Nowhere Incorporated in Springfield.", user_id="__warmup__")
        mem.search("Where does Warm Up work?", user_id="__warmup__", limit=10, config="hybrid")
        yield mem, config
    finally:
        mem.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def stored_facts(mem: Memory, users: list[str]) -> tuple[int, int]:
    valid = sum(len(mem.get_all(user_id=u, limit=100_000)["results"]) for u in users)
    every = sum(
        len(mem.get_all(user_id=u, limit=100_000, include_invalid=True)["results"]) for u in users
    )
    return valid, every


def chunks(docs: list[tuple[str, str, int]], many: int) -> list[tuple[str, list[str], int]]:
    """Consecutive documents of one user, ``many`` at a time (1: one document per call)."""
    out: list[tuple[str, list[str], int]] = []
    for user, text, n in docs:
        if out and out[-1][0] == user and len(out[-1][1]) < many:
            out[-1][1].append(text)
            out[-1] = (user, out[-1][1], out[-1][2] + n)
        else:
            out.append((user, [text], n))
    return out


def ingest(
    mem: Memory, docs: list[tuple[str, str, int]], label: str, budget: float | None, many: int = 0
) -> dict[str, Any]:
    """``many`` > 0: ``add_many`` with up to ``many`` documents per call; else one ``add``
    per document."""
    events: Counter[str] = Counter()
    done = sentences = 0
    calls = (
        chunks(sorted(docs, key=lambda d: d[0]), many)
        if many
        else [(u, [t], n) for u, t, n in docs]
    )
    with progress() as bar:
        task = bar.add_task(label, total=len(docs))
        start = time.perf_counter()
        for user, texts, n in calls:
            if many:
                out = mem.add_many(texts, user_id=user, infer=True)  # type: ignore[arg-type]
            else:
                out = mem.add(texts[0], user_id=user, infer=True)
            events.update(r["event"] for r in out["results"])
            done += len(texts)
            sentences += n
            bar.advance(task, len(texts))
            if budget is not None and time.perf_counter() - start > budget:
                break
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "adds": done,
        "sentences": sentences,
        "events": dict(events),
        "complete": done == len(docs),
    }


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run_queries(
    runs: dict[str, tuple[Memory, str]], qs: list[tuple[str, str]], warmup: int, label: str
) -> dict[str, Any]:
    """``runs``: label → (memory, preset), each timed on every query, in alternating order."""
    presets = tuple(runs)
    timed = qs[warmup:]
    for user, q in qs[:warmup]:
        for p in presets:
            mem, preset = runs[p]
            mem.search(q, user_id=user, limit=10, config=preset)
    times: dict[str, list[float]] = {p: [] for p in presets}
    empty: Counter[str] = Counter()
    with progress() as bar:
        task = bar.add_task(label, total=len(timed))
        for i, (user, q) in enumerate(timed):
            order = (
                presets if i % 2 == 0 else presets[::-1]
            )  # alternate so neither preset gets warmer caches
            for p in order:
                mem, preset = runs[p]
                t0 = time.perf_counter()
                res = mem.search(q, user_id=user, limit=10, config=preset)
                times[p].append((time.perf_counter() - t0) * 1000)
                if not res["results"]:
                    empty[p] += 1
            bar.advance(task)
    out: dict[str, Any] = {}
    for p, xs in times.items():
        out[p] = {
            "p50_ms": round(percentile(xs, 0.5), 2),
            "p95_ms": round(percentile(xs, 0.95), 2),
            "mean_ms": round(statistics.fmean(xs), 2),
            "max_ms": round(max(xs), 2),
            "queries": len(xs),
            "empty_results": empty[p],
        }
    return out


def bench_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    corpora = build_corpus(size)
    users = [c.user for c in corpora]
    docs = documents(corpora, args.per_add)
    qs = queries_for(corpora, args.queries + args.warmup)
    console.rule(f"size {size}: {sum(len(c.facts) for c in corpora)} sentences, {len(docs)} adds")
    with memory(args.data_dir, str(size), args.keep) as (mem, config):
        load_before = machine()["load"]
        ing = ingest(mem, docs, f"ingest {size}", args.ingest_budget, args.many)
        valid, every = stored_facts(mem, users)
        # the same store read without the record cache (Config.vector_cache_size = 0)
        plain = Memory(config.model_copy(update={"vector_cache_size": 0}))
        runs = {"dense": (mem, "dense"), "hybrid": (mem, "hybrid")}
        runs["hybrid_no_record_cache"] = (plain, "hybrid")
        search = run_queries(runs, qs, args.warmup, f"queries {size}")
        plain.close()
        load_after = machine()["load"]
    result = {
        "generated_sentences": sum(len(c.facts) for c in corpora),
        "ingested_sentences": ing["sentences"],
        "complete": ing["complete"],
        "adds": ing["adds"],
        "sentences_per_add": args.per_add,
        "docs_per_add_many": args.many,
        "stored_facts": valid,
        "stored_incl_invalidated": every,
        "add_events": ing["events"],
        "ingest_seconds": round(ing["seconds"], 2),
        "facts_per_s": round(valid / ing["seconds"], 2),
        "adds_per_s": round(ing["adds"] / ing["seconds"], 2),
        "search": search,
        "hybrid_over_dense_p50": round(search["hybrid"]["p50_ms"] / search["dense"]["p50_ms"], 2),
        "no_cache_over_cache_p50": round(
            search["hybrid_no_record_cache"]["p50_ms"] / search["hybrid"]["p50_ms"], 2
        ),
        "llm_calls_per_add": 0,
        "llm_calls_per_search": 0,
        "load_before": load_before,
        "load_after": load_after,
    }
    console.print(json.dumps({k: v for k, v in result.items() if k != "search"}), search)
    return result


def bench_batching(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same ``n`` sentences written three ways, each into a fresh store: ``add_many``
    (batched), one ``add`` per ``per_add``-sentence document, one ``add`` per sentence."""
    corpora = build_corpus(n, seed=1)
    users = [c.user for c in corpora]
    out: dict[str, Any] = {"sample_sentences": n}
    modes = (("batched", args.per_add, args.many), ("doc", args.per_add, 0), ("single", 1, 0))
    for key, per, many in modes:
        docs = documents(corpora, per)
        with memory(args.data_dir, key, args.keep) as (mem, _):
            ing = ingest(mem, docs, f"{key} ({per}/doc, {many or 1} doc/call)", None, many)
            valid, _ = stored_facts(mem, users)
        out[f"{key}_facts_per_s"] = round(valid / ing["seconds"], 2)
        out[f"{key}_stored_facts"] = valid
        out[f"{key}_seconds"] = round(ing["seconds"], 2)
        out[f"{key}_adds"] = ing["adds"]
    out["ratio"] = round(out["batched_facts_per_s"] / out["single_facts_per_s"], 2)
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# graphmem core benchmark (embedded default, offline extractor, no LLM)",
        "",
        f"Machine: {m['cores']} cores, load avg at start {m['load']}, "
        f"at end {report['machine_end']['load']}. "
        "Stack: Chroma PersistentClient + NetworkX/SQLite + "
        f"{report['params'].get('embed_model', 'all-minilm-l6-v2')} ONNX + spaCy. "
        f"Ingest: `add_many`, {report['params']['many']} docs of {report['params']['per_add']} "
        "sentences per call, `infer=True`; `search(limit=10)`, "
        f"{report['params']['queries']} queries after {report['params']['warmup']} warm-up. "
        "LLM calls per add / per search: 0 / 0.",
        "",
        "| facts (generated) | stored | ingest s | facts/s | adds/s | dense p50 / p95 / mean ms "
        "| hybrid p50 / p95 / mean ms | hybrid/dense p50 | p50 ≤ 20 ms "
        "| hybrid without record cache p50 / p95 ms (ratio) | load 1-min (start→end) |",
        "|---:|---:|---:|---:|---:|---|---|---:|---|---|---|",
    ]
    for size, r in report["sizes"].items():
        d, h = r["search"]["dense"], r["search"]["hybrid"]
        ok = (
            "yes"
            if h["p50_ms"] <= 20 and d["p50_ms"] <= 20
            else ("dense only" if d["p50_ms"] <= 20 else "no")
        )
        gen = size if r["complete"] else f"{size} (stopped at {r['ingested_sentences']})"
        u = r["search"].get("hybrid_no_record_cache")
        plain = (
            f"{u['p50_ms']:.1f} / {u['p95_ms']:.1f} ({r['no_cache_over_cache_p50']:.2f}×)"
            if u
            else "–"
        )
        lines.append(
            f"| {gen} | {r['stored_facts']} | {r['ingest_seconds']:.1f} | {r['facts_per_s']:.1f} | "
            f"{r['adds_per_s']:.2f} | {d['p50_ms']:.1f} / {d['p95_ms']:.1f} / {d['mean_ms']:.1f} | "
            f"{h['p50_ms']:.1f} / {h['p95_ms']:.1f} / {h['mean_ms']:.1f} | "
            f"{r['hybrid_over_dense_p50']:.2f} | {ok} | {plain} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |"
        )
    lines.append("")
    for size, r in report["sizes"].items():
        ev = ", ".join(f"{k} {v}" for k, v in sorted(r["add_events"].items()))
        missing = r["ingested_sentences"] - sum(r["add_events"].values())
        lines.append(
            f"- {size}: add() events {ev}; {missing} sentences yielded no fact "
            f"(offline extractor); stored {r['stored_facts']} of {r['ingested_sentences']}."
        )
    b = report.get("batched_vs_single")
    if b:
        lines += [
            "",
            f"Batching ({b['sample_sentences']} sentences, fresh store each, one run): "
            f"`add_many` ({report['params']['many']} docs/call) → "
            f"{b['batched_facts_per_s']:.1f} facts/s; one `add` per "
            f"{report['params']['per_add']}-sentence doc → {b['doc_facts_per_s']:.1f} facts/s; "
            f"one `add` per sentence → {b['single_facts_per_s']:.1f} facts/s; "
            f"batched/single {b['ratio']:.2f}×.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--per-add", type=int, default=10, help="sentences per document")
    ap.add_argument("--many", type=int, default=64, help="documents per add_many() call")
    ap.add_argument(
        "--single-sample",
        type=int,
        default=300,
        help="sentences for the batched-vs-single run (0: skip)",
    )
    ap.add_argument(
        "--ingest-budget", type=float, default=720.0, help="stop ingesting a size after this many s"
    )
    ap.add_argument(
        "--data-dir", type=Path, default=None, help="parent for the fresh per-run data dirs"
    )
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/core.json"))
    ap.add_argument("--markdown-only", action="store_true", help="re-render --out as Markdown")
    args = ap.parse_args(argv)
    if args.markdown_only:
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())))
        return

    report: dict[str, Any] = {
        "machine": machine(),
        "params": {
            "per_add": args.per_add,
            "many": args.many,
            "queries": args.queries,
            "warmup": args.warmup,
            "limit": 10,
            "seed": 0,
            "users": USERS,
            "extractor": "offline",
            "embed_model": Config.load().embed_model,
            "ingest_budget_s": args.ingest_budget,
        },
        "sizes": {},
    }
    console.print(f"machine: {report['machine']}")
    if args.single_sample:
        report["batched_vs_single"] = bench_batching(args.single_sample, args)
        console.print(report["batched_vs_single"])
    for size in args.sizes:
        report["sizes"][str(size)] = bench_size(size, args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")  # partial results survive a crash
    report["machine_end"] = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md)
    console.print(md)


if __name__ == "__main__":
    main()
