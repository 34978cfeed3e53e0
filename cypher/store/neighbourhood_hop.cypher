// One breadth-first round: current relations of the frontier entities not taken yet (with
// $at, those that held at that time: begun by then, at their event time or else when
// written, and not ended yet), at most $limit, staying inside each entity's own exact scope
// (like one graph per scope). The budget goes to the frontier's first entities first (the
// caller orders them by strength), then to the oldest relations: the embedded store does
// exactly the same.
// Entity by entity, in frontier order, so reading stops once $limit relations are found (no
// eager operator before LIMIT): a relation belongs to the first frontier entity it touches,
// so one whose other end comes earlier in $frontier was already listed there. ONE row, the
// list of them in that order: the driver handles every record at a fixed cost.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
UNWIND range(0, size($frontier) - 1) AS i
CALL (i) {
  MATCH (n:Entity {id: $frontier[i]})-[r]-(m:Entity)
  USING INDEX SEEK n:Entity(id)
  WHERE CASE WHEN $at IS NULL THEN r.invalid_at IS NULL
      ELSE coalesce(r.valid_from, r.created_at) <= $at
        AND (r.invalid_at IS NULL OR r.invalid_at > $at) END
    AND NOT r.id IN $taken
    AND r.scope_key = n.scope_key AND m.scope_key = n.scope_key
    AND ($user_id IS NULL OR r.user_id = $user_id)
    AND ($agent_id IS NULL OR r.agent_id = $agent_id)
    AND ($run_id IS NULL OR r.run_id = $run_id)
    AND NOT m.id IN $frontier[..i]
  WITH DISTINCT r
  ORDER BY r.created_at, r.id
  RETURN r
}
WITH r
LIMIT $limit
RETURN collect(r {.id, .fact_id, .weight, .scope_key,
  valid_from: r.valid_from.epochSeconds * 1000000 + r.valid_from.microsecond,
  invalid_at: r.invalid_at.epochSeconds * 1000000 + r.invalid_at.microsecond,
  created_at: r.created_at.epochSeconds * 1000000 + r.created_at.microsecond,
  relation: type(r), source_id: startNode(r).id, target_id: endNode(r).id}) AS relations
