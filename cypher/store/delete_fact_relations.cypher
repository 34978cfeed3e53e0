// Delete exactly the relations derived from the facts $fact_ids.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})
USING INDEX SEEK f:Fact(id)
UNWIND coalesce(f.relation_sources, []) AS sid
MATCH (a:Entity {id: sid})-[r]->(:Entity)
USING INDEX SEEK a:Entity(id)
WHERE r.fact_id = fid
DELETE r
