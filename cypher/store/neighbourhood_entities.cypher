// The entities $ids of the scope, each with the ids of the facts that mention it.
UNWIND $ids AS eid
MATCH (e:Entity {id: eid})
WHERE ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
OPTIONAL MATCH (f:Fact)-[:MENTIONS]->(e)
RETURN e {.*} AS e, collect(f.id) AS facts
