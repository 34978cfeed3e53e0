// Mark the :Fact nodes $fact_ids invalid at $at, except the facts re-written in the same
// batch ($keep); a fact that is already invalid keeps its first invalid_at (idempotent).
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})
WHERE f.invalid_at IS NULL AND NOT fid IN $keep
SET f.invalid_at = $at
RETURN count(f) AS n
