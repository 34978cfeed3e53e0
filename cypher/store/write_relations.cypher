// Upsert relations by id, of any types: row.type is a relation type validated against
// graphmem.models.RELATION_TYPE and passed as a parameter (a dynamic type, Neo4j 5.26+), so a
// batch is one statement whatever its types, and one cached plan serves every batch. The fact
// remembers the source entity of each of its relations, so relations can be found by fact
// without scanning every relationship. Times arrive as ISO strings (cheaper to send than
// temporal values).
UNWIND $rows AS row
MATCH (a:Entity {id: row.source_id})
USING INDEX SEEK a:Entity(id)
MATCH (b:Entity {id: row.target_id})
USING INDEX SEEK b:Entity(id)
MERGE (a)-[r:$(row.type) {id: row.id}]->(b)
SET r += row.props, r.created_at = datetime(row.created_at),
  r.valid_from = datetime(row.valid_from), r.invalid_at = datetime(row.invalid_at)
MERGE (f:Fact {id: r.fact_id})
  ON CREATE SET f.user_id = r.user_id, f.agent_id = r.agent_id, f.run_id = r.run_id,
    f.scope_key = r.scope_key
SET f.relation_sources = CASE
    WHEN row.source_id IN coalesce(f.relation_sources, []) THEN f.relation_sources
    ELSE coalesce(f.relation_sources, []) + row.source_id
  END
RETURN count(*) AS n
