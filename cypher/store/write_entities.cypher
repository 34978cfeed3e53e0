// Upsert entities by id; returns each entity's previous type so stale labels can be removed.
// Times arrive as ISO strings (cheaper to send than temporal values). A null in props (no
// attributes) removes that property: the entity is stored as given.
UNWIND $rows AS row
OPTIONAL MATCH (old:Entity {id: row.id})
USING INDEX SEEK old:Entity(id)
WITH row, old.type AS old_type
MERGE (e:Entity {id: row.id})
SET e += row.props, e.created_at = datetime(row.created_at)
RETURN row.id AS id, old_type
