// Neighbourhood of an entity: its relations (current and invalidated) with neighbours and facts. $user_id, $name (name or alias, any case); optional $limit (25), $agent_id, $run_id.
MATCH (e:Entity)
WHERE e.user_id = $user_id
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
  AND (toLower(e.name) = toLower($name) OR e.norm = toLower($name)
    OR any(a IN coalesce(e.aliases, []) WHERE toLower(a) = toLower($name)))
MATCH (e)-[r]-(n:Entity)
WHERE r.scope_key = e.scope_key
OPTIONAL MATCH (f:Fact {id: r.fact_id})
RETURN startNode(r).name AS source, type(r) AS relation, endNode(r).name AS target,
  r.valid_from AS valid_from, r.invalid_at AS invalid_at, f.text AS fact, r.id AS relation_id
ORDER BY invalid_at IS NOT NULL, relation, n.name, relation_id
LIMIT coalesce($limit, 25)
