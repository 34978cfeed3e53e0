// __LABEL__ is a validated CamelCase entity type (graphmem.models.LABEL).
UNWIND $ids AS id
MATCH (e:Entity {id: id})
SET e:`__LABEL__`
