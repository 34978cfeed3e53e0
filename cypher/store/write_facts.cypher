// Readable :Fact nodes: each fact's text and the earliest valid_from of its relations. Runs
// after relations, mentions and provenance, which create the (scoped) Fact nodes: a fact with
// none of them gets no node, as it would belong to no scope.
UNWIND $rows AS row
MATCH (f:Fact {id: row.id})
SET f.text = row.text, f.valid_from = coalesce(datetime(row.valid_from), f.valid_from)
RETURN count(*) AS n
