// Mark the current relations of the given facts invalid at $at, except ids in $keep.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})
UNWIND coalesce(f.relation_sources, []) AS sid
MATCH (:Entity {id: sid})-[r]->(:Entity)
WHERE r.fact_id = fid AND r.invalid_at IS NULL AND NOT r.id IN $keep
SET r.invalid_at = $at
RETURN count(r) AS n
