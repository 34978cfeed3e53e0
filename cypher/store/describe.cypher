// Counts of node labels and relationship types stored for the scope (for inspection).
MATCH (n)
WHERE (n:Entity OR n:Fact OR n:Source)
  AND ($user_id IS NULL OR n.user_id = $user_id)
  AND ($agent_id IS NULL OR n.agent_id = $agent_id)
  AND ($run_id IS NULL OR n.run_id = $run_id)
UNWIND labels(n) AS name
RETURN 'label' AS kind, name, count(*) AS n
UNION ALL
MATCH (n)-[r]->()
WHERE (n:Entity OR n:Fact OR n:Source)
  AND ($user_id IS NULL OR r.user_id = $user_id)
  AND ($agent_id IS NULL OR r.agent_id = $agent_id)
  AND ($run_id IS NULL OR r.run_id = $run_id)
RETURN 'relationship' AS kind, type(r) AS name, count(*) AS n
