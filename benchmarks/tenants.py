"""The many-tenants corpus of ``bench_scale``: short first-person facts of one user each
("I live in Lyon.", "My sister Ana works at Globex.", "I adopted a beagle called Miso in
2021."), one question per fact and the word its answer must contain.

Deterministic per user index: user ``i`` gets the same facts whatever the number of users, so
every size of the benchmark writes the same tenants (its first users are those of the smaller
sizes). The words come from ``corpus`` (the vocabulary of the other speed benchmarks) and a few
lists below; each user draws its own, so users differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from corpus import (
    CARS,
    CITIES,
    COLORS,
    COMPANIES,
    EVENTS,
    FIRST,
    FOODS,
    HOBBIES,
    INSTRUMENTS,
    LAST,
    MONTHS,
    PET_NAMES,
    PETS,
    PROJECTS,
    RELATIVES,
    SUBJECTS,
    UNIVERSITIES,
)

#: agents the users are assigned to, round-robin: an agent-only search spans U / 10 users
AGENTS = 10
JOBS = ["nurse", "teacher", "designer", "plumber", "data analyst", "chef", "lawyer", "pilot"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ALLERGENS = ["peanuts", "shellfish", "pollen", "cats", "penicillin", "gluten", "bee stings"]
LANGUAGES = ["Spanish", "Japanese", "German", "Portuguese", "Korean", "Italian", "Swahili"]

# (fact, question, answer) templates; one fact per template and user, so no fact of a user
# contradicts another of the same user
TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("I live in {city}.", "Where do I live?", "{city}"),
    ("I work at {company} as a {job}.", "Where do I work?", "{company}"),
    ("My {rel1} {name1} works at {company2}.", "Where does my {rel1} work?", "{company2}"),
    ("My {rel2} {name2} lives in {city2}.", "Where does my {rel2} live?", "{city2}"),
    ("I adopted a {pet} called {pet_name} in {year1}.", "What is my {pet} called?", "{pet_name}"),
    ("I grew up in {city3}.", "Where did I grow up?", "{city3}"),
    ("I studied {subject} at {university}.", "What did I study?", "{subject}"),
    ("I love {food}.", "What food do I love?", "{food}"),
    ("I practise {hobby} every {day}.", "What do I do every {day}?", "{hobby}"),
    ("I play the {instrument} in a band.", "Which instrument do I play?", "{instrument}"),
    ("I drive a {color} {car}.", "What car do I drive?", "{car}"),
    ("I visited {city4} in {month} {year2}.", "When did I visit {city4}?", "{month}"),
    ("My best friend is {name3}.", "Who is my best friend?", "{name3}"),
    ("My manager {name4} leads the {project} project.", "Who is my manager?", "{name4}"),
    ("I met my partner {name5} at {event} in {year3}.", "Where did I meet my partner?", "{event}"),
    ("My birthday is on {month2} {day_of_month}.", "When is my birthday?", "{month2}"),
    ("I am allergic to {allergen}.", "What am I allergic to?", "{allergen}"),
    ("My {rel3} {name6} studied {subject2}.", "What did my {rel3} study?", "{subject2}"),
    ("I am learning {language}.", "Which language am I learning?", "{language}"),
    ("My {rel4} {name7} drives a {car2}.", "What does my {rel4} drive?", "{car2}"),
    ("I want to visit {city5} next year.", "Where do I want to travel?", "{city5}"),
    ("I ran the {city6} marathon in {year4}.", "Which marathon did I run?", "{city6}"),
)


@dataclass(frozen=True)
class Fact:
    text: str
    question: str
    answer: str


def user_id(i: int) -> str:
    return f"user{i}"


def agent_id(i: int) -> str:
    """Round-robin: user ``i`` talks to agent ``i mod AGENTS``."""
    return f"agent{i % AGENTS}"


def _words(rng: random.Random) -> dict[str, str]:
    cities = rng.sample(CITIES, 7)
    names = [f"{first} {rng.choice(LAST)}" for first in rng.sample(FIRST, 7)]
    rels = rng.sample(RELATIVES, 4)
    company, company2 = rng.sample(COMPANIES, 2)
    years = [str(rng.randint(2005, 2024)) for _ in range(4)]
    subject, subject2 = rng.sample(SUBJECTS, 2)
    car, car2 = rng.sample(CARS, 2)
    words = {f"city{i or ''}": c for i, c in enumerate(cities)}
    words |= {f"name{i + 1}": n for i, n in enumerate(names)}
    words |= {f"rel{i + 1}": r for i, r in enumerate(rels)}
    words |= {f"year{i + 1}": y for i, y in enumerate(years)}
    words |= {"company": company, "company2": company2, "subject": subject}
    words |= {"subject2": subject2, "car": car, "car2": car2}
    words |= {
        "job": rng.choice(JOBS),
        "pet": rng.choice(PETS),
        "pet_name": rng.choice(PET_NAMES),
        "university": rng.choice(UNIVERSITIES),
        "food": rng.choice(FOODS),
        "hobby": rng.choice(HOBBIES),
        "day": rng.choice(DAYS),
        "instrument": rng.choice(INSTRUMENTS),
        "color": rng.choice(COLORS),
        "month": rng.choice(MONTHS),
        "month2": rng.choice(MONTHS),
        "day_of_month": str(rng.randint(1, 28)),
        "project": rng.choice(PROJECTS),
        "event": rng.choice(EVENTS),
        "allergen": rng.choice(ALLERGENS),
        "language": rng.choice(LANGUAGES),
    }
    return words


def tenant(i: int, n: int, seed: int = 0) -> list[Fact]:
    """The ``n`` facts of user ``i`` (at most one per template), in a per-user order."""
    if not 0 < n <= len(TEMPLATES):
        raise ValueError(f"facts per user must be in 1..{len(TEMPLATES)}")
    rng = random.Random(f"tenant:{seed}:{i}")
    words = _words(rng)
    picked = rng.sample(TEMPLATES, n)
    return [Fact(*(part.format(**words) for part in t)) for t in picked]
