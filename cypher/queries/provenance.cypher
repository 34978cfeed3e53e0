// Provenance of a relation: its fact and the source messages, by $relation_id or by $source, $type, $target (all optional filters). $user_id; optional $limit (25), $agent_id, $run_id.
MATCH (a:Entity)
WHERE a.user_id = $user_id
  AND ($agent_id IS NULL OR a.agent_id = $agent_id)
  AND ($run_id IS NULL OR a.run_id = $run_id)
  AND ($source IS NULL OR toLower(a.name) = toLower($source) OR a.norm = toLower($source)
    OR any(x IN coalesce(a.aliases, []) WHERE toLower(x) = toLower($source)))
MATCH (a)-[r]->(b:Entity)
WHERE r.fact_id IS NOT NULL
  AND ($relation_id IS NULL OR r.id = $relation_id)
  AND ($type IS NULL OR type(r) = toUpper(replace(trim($type), ' ', '_')))
  AND ($target IS NULL OR toLower(b.name) = toLower($target) OR b.norm = toLower($target)
    OR any(x IN coalesce(b.aliases, []) WHERE toLower(x) = toLower($target)))
OPTIONAL MATCH (f:Fact {id: r.fact_id})
OPTIONAL MATCH (f)-[:DERIVED_FROM]->(s:Source)
RETURN a.name + ' -[' + type(r) + ']-> ' + b.name AS relation, r.valid_from AS valid_from,
  r.invalid_at AS invalid_at, f.text AS fact, s.role AS role, s.content AS message,
  s.created_at AS message_at, r.id AS relation_id, s.id AS source_id
ORDER BY invalid_at IS NOT NULL, relation, message_at
LIMIT coalesce($limit, 25)
