// __LABEL__ is a validated CamelCase entity type (graphmem.models.LABEL).
UNWIND $ids AS id
MATCH (e:Entity {id: id})
REMOVE e:`__LABEL__`
