// Relations (either direction) of the entities $entity_ids, in the scope.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
UNWIND $entity_ids AS eid
MATCH (a:Entity {id: eid})-[r]-(:Entity)
USING INDEX SEEK a:Entity(id)
WHERE ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($include_invalid OR r.invalid_at IS NULL)
WITH DISTINCT r
RETURN r {.*,
  valid_from: r.valid_from.epochSeconds * 1000000 + r.valid_from.microsecond,
  invalid_at: r.invalid_at.epochSeconds * 1000000 + r.invalid_at.microsecond,
  created_at: r.created_at.epochSeconds * 1000000 + r.created_at.microsecond,
  relation: type(r), source_id: startNode(r).id, target_id: endNode(r).id} AS r
