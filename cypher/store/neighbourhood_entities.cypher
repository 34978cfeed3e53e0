// The entities $ids of the scope, each with the ids of the facts that mention it.
UNWIND $ids AS eid
MATCH (e:Entity {id: eid})
WHERE ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
RETURN e {.id, .name, .type, .aliases, .created_at, .scope_key} AS e,
  COLLECT { MATCH (f:Fact)-[:MENTIONS]->(e) RETURN f.id } AS facts
