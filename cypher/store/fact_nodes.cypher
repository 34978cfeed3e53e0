// The :Fact nodes $fact_ids as Neo4j Browser shows them (text and validity), for inspection.
MATCH (f:Fact)
WHERE f.id IN $fact_ids
RETURN f.id AS id, f.text AS text, f.valid_from AS valid_from, f.invalid_at AS invalid_at
ORDER BY id
