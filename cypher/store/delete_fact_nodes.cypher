// The facts themselves, with their MENTIONS and DERIVED_FROM links (never the entities).
MATCH (f:Fact)
USING INDEX SEEK f:Fact(id)
WHERE f.id IN $fact_ids
DETACH DELETE f
