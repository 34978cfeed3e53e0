MATCH (f:Fact)-[:DERIVED_FROM]->(s:Source)
WHERE f.id IN $fact_ids
RETURN f.id AS fact_id, s.id AS source_id
ORDER BY fact_id, source_id
