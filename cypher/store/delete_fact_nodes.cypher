// The facts themselves, with their MENTIONS and DERIVED_FROM links (never the entities).
MATCH (f:Fact)
WHERE f.id IN $fact_ids
DETACH DELETE f
