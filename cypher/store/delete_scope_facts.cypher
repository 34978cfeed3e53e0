// Facts of the scope left with no link and no relation (run after the entities and sources
// are gone; a fact id shared with another scope keeps its node while that scope uses it).
MATCH (f:Fact)
// any key that is set selects through its index; the rest is the exact scope
WHERE (f.user_id = $user_id OR f.agent_id = $agent_id OR f.run_id = $run_id)
  AND ($user_id IS NULL OR f.user_id = $user_id)
  AND ($agent_id IS NULL OR f.agent_id = $agent_id)
  AND ($run_id IS NULL OR f.run_id = $run_id)
  AND NOT (f)--()
  AND NOT EXISTS {
    UNWIND coalesce(f.relation_sources, []) AS sid
    MATCH (:Entity {id: sid})-[r]->(:Entity)
    WHERE r.fact_id = f.id
  }
DELETE f
