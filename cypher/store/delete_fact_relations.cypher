// Delete exactly the relations derived from the facts $fact_ids.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})
UNWIND coalesce(f.relation_sources, []) AS sid
MATCH (:Entity {id: sid})-[r]->(:Entity)
WHERE r.fact_id = fid
DELETE r
