"""The synthetic personal-facts corpus of the speed benchmarks (``bench_core``,
``bench_neo4j``): deterministic people, facts and questions for a few users, with no
contradictions and no near-duplicates by design."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
        # a scope of tens of thousands of facts needs more people than first x last names:
        # they get a middle name (smaller corpora draw exactly as before)
        middle = n_people > len(FIRST) * len(LAST) // 4
        while len(names) < n_people:
            first = rng.choice(FIRST)
            if middle:
                first += f" {rng.choice(FIRST)}"
            names.add(f"{first} {rng.choice(LAST)}")
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
