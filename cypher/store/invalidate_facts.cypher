// Mark the current relations of the facts in $rows ({fid, at}) invalid at that fact's time,
// except ids in $keep.
UNWIND $rows AS row
MATCH (f:Fact {id: row.fid})
USING INDEX SEEK f:Fact(id)
UNWIND coalesce(f.relation_sources, []) AS sid
MATCH (a:Entity {id: sid})-[r]->(:Entity)
USING INDEX SEEK a:Entity(id)
WHERE r.fact_id = row.fid AND r.invalid_at IS NULL AND NOT r.id IN $keep
SET r.invalid_at = row.at
RETURN count(r) AS n
