// Relations whose scope matches; current only unless $include_invalid. The source entity
// (same scope as its relations) is found through the index of any scope key that is set.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
MATCH (e:Entity)
WHERE e.user_id = $user_id OR e.agent_id = $agent_id OR e.run_id = $run_id
MATCH (e)-[r]->(b:Entity)
WHERE ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($include_invalid OR r.invalid_at IS NULL)
RETURN r {.*,
  valid_from: r.valid_from.epochSeconds * 1000000 + r.valid_from.microsecond,
  invalid_at: r.invalid_at.epochSeconds * 1000000 + r.invalid_at.microsecond,
  created_at: r.created_at.epochSeconds * 1000000 + r.created_at.microsecond,
  relation: type(r), source_id: e.id, target_id: b.id} AS r
ORDER BY r.scope_key, r.created_at, r.id
