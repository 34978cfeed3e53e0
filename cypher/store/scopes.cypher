// The scope key of every scope that holds entities, sources or facts (a whole-store export
// visits each), as ONE row: the driver handles every record at a fixed cost.
CALL () {
  MATCH (n:Entity)
  RETURN n.scope_key AS key
  UNION
  MATCH (n:Source)
  RETURN n.scope_key AS key
  UNION
  MATCH (n:Fact)
  RETURN n.scope_key AS key
}
WITH key
WHERE key IS NOT NULL
RETURN collect(key) AS keys
