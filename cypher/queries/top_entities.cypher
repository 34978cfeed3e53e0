// Most-connected entities: degree over current relations and number of facts mentioning each. $user_id; optional $limit (10), $agent_id, $run_id.
MATCH (e:Entity)
WHERE e.user_id = $user_id
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
WITH e,
  COUNT { (e)-[r]-(:Entity) WHERE r.invalid_at IS NULL AND r.scope_key = e.scope_key } AS degree,
  COUNT { (:Fact)-[:MENTIONS]->(e) } AS facts
RETURN e.name AS entity, e.type AS type, degree, facts
ORDER BY degree DESC, facts DESC, entity
LIMIT coalesce($limit, 10)
