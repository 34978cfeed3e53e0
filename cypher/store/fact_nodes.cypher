// The :Fact nodes $fact_ids as Neo4j Browser shows them (text and validity), for inspection.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
MATCH (f:Fact)
USING INDEX SEEK f:Fact(id)
WHERE f.id IN $fact_ids
RETURN f.id AS id, f.text AS text, f.valid_from.epochSeconds * 1000000 + f.valid_from.microsecond AS valid_from,
  f.invalid_at.epochSeconds * 1000000 + f.invalid_at.microsecond AS invalid_at
ORDER BY id
