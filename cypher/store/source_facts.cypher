// (source id, fact id) pairs for the sources $source_ids: the facts derived from each, as ONE
// row (see fact_sources).
UNWIND $source_ids AS sid
MATCH (f:Fact)-[:DERIVED_FROM]->(s:Source {id: sid})
USING INDEX SEEK s:Source(id)
WITH sid, f.id AS fid
ORDER BY sid, fid
RETURN collect([sid, fid]) AS pairs
