// Upsert entities by id; returns each entity's previous type so stale labels can be removed.
UNWIND $rows AS row
OPTIONAL MATCH (old:Entity {id: row.id})
WITH row, old.type AS old_type
MERGE (e:Entity {id: row.id})
SET e += row.props
RETURN row.id AS id, old_type
