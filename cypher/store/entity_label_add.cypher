// Each entity's type as a second label: row.label is a CamelCase entity type validated against
// graphmem.models.LABEL and passed as a parameter (a dynamic label, Neo4j 5.26+).
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})
USING INDEX SEEK e:Entity(id)
SET e:$(row.label)
