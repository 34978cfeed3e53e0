// Relations whose scope matches; current only unless $include_invalid. The source entity
// (same scope as its relations) is found through the index of one scope key ($by_*: the
// store sets one). Times are returned as epoch microseconds: cheaper for the driver than
// temporal values.
MATCH (e:Entity)
USING INDEX SEEK e:Entity(run_id)
USING INDEX SEEK e:Entity(user_id)
USING INDEX SEEK e:Entity(agent_id)
WHERE e.run_id = $by_run OR e.user_id = $by_user OR e.agent_id = $by_agent
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
