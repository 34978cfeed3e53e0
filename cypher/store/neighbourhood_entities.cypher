// The entities $ids of the scope, each with how many facts mention it and their ids; a hub
// (more than $cap mentions) lists none, so the read stays bounded. ONE row, the list of them
// in the order of $ids: the driver handles every record at a fixed cost.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
UNWIND $ids AS eid
MATCH (e:Entity {id: eid})
USING INDEX SEEK e:Entity(id)
WHERE ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
WITH e, COUNT { (e)<-[:MENTIONS]-(:Fact) } AS degree
RETURN collect({
  e: e {.id, .name, .type, .aliases, .attributes, .scope_key,
    created_at: e.created_at.epochSeconds * 1000000 + e.created_at.microsecond},
  degree: degree,
  facts: CASE WHEN $cap IS NULL OR degree <= $cap
    THEN COLLECT { MATCH (f:Fact)-[:MENTIONS]->(e) RETURN f.id }
    ELSE [] END}) AS entities
