// Paths between two entities: simple paths over current relations, shortest first, with their facts. $user_id, $source, $target (names); optional $k max hops (1-4, default 3), $limit (10), $agent_id, $run_id.
MATCH (a:Entity)
WHERE a.user_id = $user_id
  AND ($agent_id IS NULL OR a.agent_id = $agent_id)
  AND ($run_id IS NULL OR a.run_id = $run_id)
  AND (toLower(a.name) = toLower($source) OR a.norm = toLower($source)
    OR any(x IN coalesce(a.aliases, []) WHERE toLower(x) = toLower($source)))
MATCH (b:Entity)
WHERE b.scope_key = a.scope_key AND b <> a
  AND (toLower(b.name) = toLower($target) OR b.norm = toLower($target)
    OR any(x IN coalesce(b.aliases, []) WHERE toLower(x) = toLower($target)))
// variable-length bounds cannot be parameters: expand at most 4 hops, then keep length <= $k
MATCH p = (a)-[*1..4]-(b)
WHERE length(p) <= coalesce($k, 3)
  AND all(r IN relationships(p)
    WHERE r.fact_id IS NOT NULL AND r.invalid_at IS NULL AND r.scope_key = a.scope_key)
  AND all(n IN nodes(p) WHERE n:Entity AND single(m IN nodes(p) WHERE m = n))
WITH p, nodes(p) AS ns, relationships(p) AS rs
RETURN length(p) AS hops,
  reduce(s = ns[0].name, i IN range(0, size(rs) - 1) |
    s + CASE WHEN startNode(rs[i]) = ns[i]
      THEN ' -[' + type(rs[i]) + ']-> ' ELSE ' <-[' + type(rs[i]) + ']- ' END
    + ns[i + 1].name) AS path,
  [r IN rs | COLLECT { MATCH (f:Fact {id: r.fact_id}) RETURN f.text }[0]] AS facts
ORDER BY hops, path
LIMIT coalesce($limit, 10)
