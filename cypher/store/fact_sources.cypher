// (fact id, source id) pairs for the facts $fact_ids (distinct ids), as ONE row: the driver
// handles every record at a fixed cost (~35 µs each, a few hundred per search), a list in one
// record costs next to nothing.
UNWIND $fact_ids AS fid
MATCH (f:Fact {id: fid})-[:DERIVED_FROM]->(s:Source)
USING INDEX SEEK f:Fact(id)
WITH fid, s.id AS sid
ORDER BY fid, sid
RETURN collect([fid, sid]) AS pairs
