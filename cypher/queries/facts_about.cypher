// Facts about an entity with their validity (fact text, valid_from, invalid_at) and relations; current first. $user_id, $name; optional $limit (100), $agent_id, $run_id.
MATCH (e:Entity)
WHERE e.user_id = $user_id
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
  AND (toLower(e.name) = toLower($name) OR e.norm = toLower($name)
    OR any(a IN coalesce(e.aliases, []) WHERE toLower(a) = toLower($name)))
MATCH (f:Fact)-[:MENTIONS]->(e)
// the fact remembers the source entity of each of its relations (relation_sources)
OPTIONAL MATCH (a:Entity)-[r]->(b:Entity)
WHERE a.id IN coalesce(f.relation_sources, []) AND r.fact_id = f.id
WITH f, a, r, b, coalesce(f.invalid_at, r.invalid_at) AS invalid_at
RETURN f.text AS fact, a.name AS source, type(r) AS relation, b.name AS target,
  coalesce(f.valid_from, r.valid_from) AS valid_from, invalid_at, f.id AS fact_id
ORDER BY invalid_at IS NOT NULL, valid_from, fact, relation
LIMIT coalesce($limit, 100)
