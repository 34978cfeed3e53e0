// Readable :Fact nodes: each fact's text, the earliest valid_from of its relations, and the
// invalid_at of a fact that arrives superseded (an older message added later). Runs after
// relations, mentions and provenance, which create the (scoped) Fact nodes: a fact with none
// of them gets no node, as it would belong to no scope.
UNWIND $rows AS row
MATCH (f:Fact {id: row.id})
USING INDEX SEEK f:Fact(id)
SET f.text = row.text, f.valid_from = coalesce(datetime(row.valid_from), f.valid_from),
  f.invalid_at = coalesce(f.invalid_at, datetime(row.invalid_at))
RETURN count(*) AS n
