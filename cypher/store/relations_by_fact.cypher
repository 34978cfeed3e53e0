// Relations derived from the facts $fact_ids, in the scope.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})
USING INDEX SEEK f:Fact(id)
UNWIND coalesce(f.relation_sources, []) AS sid
MATCH (a:Entity {id: sid})-[r]->(b:Entity)
USING INDEX SEEK a:Entity(id)
WHERE r.fact_id = fid
  AND ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($include_invalid OR r.invalid_at IS NULL)
RETURN r {.*,
  valid_from: r.valid_from.epochSeconds * 1000000 + r.valid_from.microsecond,
  invalid_at: r.invalid_at.epochSeconds * 1000000 + r.invalid_at.microsecond,
  created_at: r.created_at.epochSeconds * 1000000 + r.created_at.microsecond,
  relation: type(r), source_id: a.id, target_id: b.id} AS r
