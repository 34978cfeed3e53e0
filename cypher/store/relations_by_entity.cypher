// Relations (either direction) of the entities $entity_ids, in the scope.
UNWIND $entity_ids AS eid
MATCH (:Entity {id: eid})-[r]-(:Entity)
WHERE ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
  AND ($include_invalid OR r.invalid_at IS NULL)
WITH DISTINCT r
RETURN r {.*, relation: type(r), source_id: startNode(r).id, target_id: endNode(r).id} AS r
