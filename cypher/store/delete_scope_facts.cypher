// Facts of the scope left with no link and no relation (run after the entities and sources
// are gone; a fact id shared with another scope keeps its node while that scope uses it).
MATCH (f:Fact)
USING INDEX SEEK f:Fact(run_id)
USING INDEX SEEK f:Fact(user_id)
USING INDEX SEEK f:Fact(agent_id)
// one scope key seeks through its index ($by_*: the store sets one; the hints keep that
// plan whatever the statistics say); the rest is the exact scope
WHERE (f.run_id = $by_run OR f.user_id = $by_user OR f.agent_id = $by_agent)
  AND ($user_id IS NULL OR f.user_id = $user_id)
  AND ($agent_id IS NULL OR f.agent_id = $agent_id)
  AND ($run_id IS NULL OR f.run_id = $run_id)
  AND NOT (f)--()
  AND NOT EXISTS {
    UNWIND coalesce(f.relation_sources, []) AS sid
    MATCH (a:Entity {id: sid})-[r]->(:Entity)
    USING INDEX SEEK a:Entity(id)
    WHERE r.fact_id = f.id
  }
DELETE f
