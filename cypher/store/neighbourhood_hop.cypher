// One breadth-first round: current relations of the frontier entities not taken yet, at most
// $limit, staying inside each entity's own exact scope (like one graph per scope).
UNWIND $frontier AS nid
MATCH (n:Entity {id: nid})-[r]-(m:Entity)
WHERE r.invalid_at IS NULL
  AND NOT r.id IN $taken
  AND r.scope_key = n.scope_key AND m.scope_key = n.scope_key
  AND ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
WITH DISTINCT r
ORDER BY r.created_at, r.id
LIMIT $limit
RETURN r {.id, .fact_id, .valid_from, .invalid_at, .created_at, .weight, .scope_key,
  relation: type(r), source_id: startNode(r).id, target_id: endNode(r).id} AS r
