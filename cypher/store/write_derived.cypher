// (:Fact)-[:DERIVED_FROM]->(:Source); the link carries the source's scope.
UNWIND $rows AS row
MATCH (s:Source {id: row.source_id})
USING INDEX SEEK s:Source(id)
MERGE (f:Fact {id: row.fact_id})
  ON CREATE SET f.user_id = s.user_id, f.agent_id = s.agent_id, f.run_id = s.run_id,
    f.scope_key = s.scope_key
MERGE (f)-[d:DERIVED_FROM]->(s)
SET d.user_id = s.user_id, d.agent_id = s.agent_id, d.run_id = s.run_id,
  d.scope_key = s.scope_key
RETURN count(*) AS n
