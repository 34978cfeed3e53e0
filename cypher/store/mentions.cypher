// (fact_id, entity_id) for the entities the facts $fact_ids (distinct ids) mention, inside the
// scope, as ONE row of pairs: the driver handles every record at a fixed cost.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})-[:MENTIONS]->(e:Entity)
USING INDEX SEEK f:Fact(id)
WHERE ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
WITH fid, e.id AS eid
ORDER BY fid, eid
RETURN collect([fid, eid]) AS pairs
