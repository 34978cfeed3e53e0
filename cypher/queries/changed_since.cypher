// What changed: relations and facts that stopped holding at or after $since (ISO date/datetime, no zone = UTC), newest first. $user_id, $since; optional $limit (100), $agent_id, $run_id.
// invalid_at is when the memory that contradicts them was said (its message's timestamp).
// Stored datetimes may carry any UTC offset, and Cypher orders equal instants with different
// offsets by offset, so instants are compared as integer nanoseconds since the epoch.
WITH datetime($since) AS s
WITH s.epochSeconds * 1000000000 + s.nanosecond AS since
CALL (since) {
  MATCH (a:Entity)
  WHERE a.user_id = $user_id
    AND ($agent_id IS NULL OR a.agent_id = $agent_id)
    AND ($run_id IS NULL OR a.run_id = $run_id)
  MATCH (a)-[r]->(b:Entity)
  WHERE r.invalid_at.epochSeconds * 1000000000 + r.invalid_at.nanosecond >= since
  OPTIONAL MATCH (f:Fact {id: r.fact_id})
  RETURN 'relation' AS kind, a.name + ' -[' + type(r) + ']-> ' + b.name AS what,
    f.text AS fact, r.valid_from AS valid_from, r.invalid_at AS invalid_at, r.id AS id
  UNION ALL
  MATCH (f:Fact)
  WHERE f.user_id = $user_id
    AND ($agent_id IS NULL OR f.agent_id = $agent_id)
    AND ($run_id IS NULL OR f.run_id = $run_id)
    AND f.invalid_at.epochSeconds * 1000000000 + f.invalid_at.nanosecond >= since
  RETURN 'fact' AS kind, f.text AS what, f.text AS fact, f.valid_from AS valid_from,
    f.invalid_at AS invalid_at, f.id AS id
}
RETURN kind, what, fact, valid_from, invalid_at, id
ORDER BY invalid_at.epochSeconds DESC, invalid_at.nanosecond DESC, kind, what
LIMIT coalesce($limit, 100)
