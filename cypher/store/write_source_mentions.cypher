// (:Source)-[:MENTIONS]->(:Entity) for entities mentioned by facts derived from the source.
UNWIND $rows AS row
MATCH (s:Source {id: row.source_id})
USING INDEX SEEK s:Source(id)
MATCH (e:Entity {id: row.entity_id})
USING INDEX SEEK e:Entity(id)
MERGE (s)-[m:MENTIONS]->(e)
SET m.user_id = e.user_id, m.agent_id = e.agent_id, m.run_id = e.run_id,
  m.scope_key = e.scope_key
RETURN count(*) AS n
