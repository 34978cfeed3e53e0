"""Every statement a search or a write runs on Neo4j seeks through an index inside its scope:
no plan reads a whole label, relationship type or index (every tenant's records), for scopes
given by user_id, by agent_id alone, by run_id alone and by combinations, and a small tenant's
statements cost the same db hits however big another tenant grows. The statements are the
ones the store's own calls run (recorded from the driver, see ``tests/neo4j_plans.py``), so a
new ``cypher/store`` file is checked as soon as the store uses it; a file the workload does not
run must be exempted here, with the reason. Needs the server of ``scripts/neo4j.sh``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import neo4j_plans as plans
import pytest
from neo4j import Driver

from graphmem.models import Scope
from graphmem.stores.neo4j_store import Neo4jGraphStore, scoped

pytestmark = pytest.mark.neo4j

#: statements no search or write runs, and why they may read every tenant's nodes
EXEMPT = {
    "reset": "Memory.reset deletes every tenant's nodes: it reads them all by design",
    "await_indexes": "a procedure call at setup (waits for the schema), reads no records",
    "scopes": "a whole-store export lists every scope: it reads every tenant's nodes by design",
}

#: a big tenant: one user with a shared agent, grown by GROW facts in the last test
BIG = Scope(user_id="big", agent_id="helper")
BIG_FACTS, GROW = 60, 1500
#: small tenants, each queried by its own scope: by one key, and by keys shared with BIG
SMALL = {
    "user": Scope(user_id="small"),
    "agent": Scope(agent_id="solo-agent"),
    "run": Scope(run_id="small-run"),
    "user+agent": Scope(user_id="helped", agent_id="helper"),  # BIG's agent
    "user+run": Scope(user_id="big", run_id="big-run"),  # a short run of BIG's user
}
SMALL_FACTS, FILLERS, FILLER_FACTS = 12, 30, 4
SLACK = 2 * SMALL_FACTS


@dataclass
class World:
    store: Neo4jGraphStore
    driver: Driver
    recorded: dict[str, list[plans.Statement]] = field(default_factory=dict)

    def statements(self, shape: str) -> list[plans.Statement]:
        """What the workload of SMALL[shape] runs (recorded once: the same text and values)."""
        if shape not in self.recorded:
            self.recorded[shape] = plans.record(self.store, SMALL[shape], SMALL_FACTS)
        return self.recorded[shape]

    def plans(self, shape: str, replan: str = "force") -> list[plans.Plan]:
        return plans.profile(self.driver, self.statements(shape), replan)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    store = Neo4jGraphStore(**plans.store_args())
    store.setup()
    store.reset()
    for scope in SMALL.values():
        plans.write_tenant(store, scope, SMALL_FACTS)
    for i in range(FILLERS):
        plans.write_tenant(store, Scope(user_id=f"filler{i}"), FILLER_FACTS)
    plans.write_tenant(store, BIG, BIG_FACTS)
    drv = plans.driver()
    yield World(store, drv)
    drv.close()
    store.reset()
    store.close()


def test_exemptions_name_statements_that_exist() -> None:
    assert set(EXEMPT) <= set(plans.statement_names())


def test_every_store_statement_is_run_by_the_workload_or_exempt(world: World) -> None:
    ran = {s.name for shape in SMALL for s in world.statements(shape)}
    files = set(plans.statement_names())
    assert not ran & set(EXEMPT), "an exempt statement is run by a search or a write"
    missing = sorted(files - ran - set(EXEMPT))
    assert not missing, (
        f"no plan check for cypher/store/{missing}: run it in neo4j_plans.workload (the store "
        "call a search or a write makes), or exempt it here with the reason"
    )


@pytest.mark.parametrize("shape", list(SMALL))
def test_every_plan_seeks_inside_the_scope(world: World, shape: str) -> None:
    scans = [f"{plan.name}: {scan}" for plan in world.plans(shape) for scan in plan.scans()]
    assert not scans, f"{SMALL[shape]}: statements that scan every tenant:\n" + "\n".join(scans)


def test_a_big_tenant_costs_a_small_one_nothing(world: World) -> None:
    """PROFILE's db hits are deterministic: a small tenant's statements read as much with a
    big tenant 25 times bigger (one that shares a user or an agent with some of them) as
    before, and their plans made afresh at that size still seek. The plans compared are the
    cached ones (``replan=skip``); should the server re-make one anyway, the new one may order
    its filters otherwise and read a property once more per record of the small tenant
    (``SLACK``), while reading the big tenant's records would cost hundreds more."""
    before = {shape: world.plans(shape, "skip") for shape in SMALL}
    plans.write_tenant(world.store, BIG, GROW, start=BIG_FACTS)
    assert world.store.describe(BIG)["labels"]["Fact"] == BIG_FACTS + GROW
    grew = []
    for shape in SMALL:
        after = world.plans(shape, "skip")
        assert [p.name for p in after] == [p.name for p in before[shape]]
        grew += [
            f"{shape} {new.name}: {old.db_hits} -> {new.db_hits} db hits"
            for old, new in zip(before[shape], after)
            if new.db_hits > old.db_hits + (0 if new.operators == old.operators else SLACK)
        ]
        fresh = world.plans(shape, "force")
        grew += [f"{shape} {p.name} now scans: {scan}" for p in fresh for scan in p.scans()]
    assert not grew, "the big tenant's growth costs small tenants:\n" + "\n".join(grew)


def test_a_scope_seeks_on_its_narrowest_key() -> None:
    """Only the first key of run_id, user_id, agent_id that is set is a seek parameter."""
    assert scoped(Scope(user_id="u", agent_id="a")) == {
        **{"user_id": "u", "agent_id": "a", "run_id": None},
        **{"by_run": None, "by_user": "u", "by_agent": None},
    }
    assert scoped(Scope(user_id="u", agent_id="a", run_id="r"))["by_user"] is None
    assert scoped(Scope(agent_id="a", run_id="r"))["by_run"] == "r"
    assert scoped(Scope(agent_id="a"))["by_agent"] == "a"
