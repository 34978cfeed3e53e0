// (fact_id, entity_id) for the entities the facts $fact_ids mention, inside the scope.
MATCH (f:Fact)-[:MENTIONS]->(e:Entity)
WHERE f.id IN $fact_ids
  AND ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
RETURN f.id AS fact_id, e.id AS entity_id
ORDER BY fact_id, entity_id
