// Mark the :Fact nodes of $rows ({fid, at}) invalid at that fact's time, except the facts
// re-written in the same batch ($keep); a fact that is already invalid keeps its first
// invalid_at (idempotent).
UNWIND $rows AS row
MATCH (f:Fact {id: row.fid})
USING INDEX SEEK f:Fact(id)
WHERE f.invalid_at IS NULL AND NOT row.fid IN $keep
SET f.invalid_at = row.at
RETURN count(f) AS n
