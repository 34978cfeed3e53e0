// (:Fact)-[:MENTIONS]->(:Entity); the mention carries the entity's scope.
UNWIND $rows AS row
MATCH (e:Entity {id: row.entity_id})
USING INDEX SEEK e:Entity(id)
MERGE (f:Fact {id: row.fact_id})
  ON CREATE SET f.user_id = e.user_id, f.agent_id = e.agent_id, f.run_id = e.run_id,
    f.scope_key = e.scope_key
MERGE (f)-[m:MENTIONS]->(e)
SET m.user_id = e.user_id, m.agent_id = e.agent_id, m.run_id = e.run_id,
  m.scope_key = e.scope_key
RETURN count(*) AS n
