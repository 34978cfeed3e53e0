// Entities whose scope matches every non-null key of ($user_id, $agent_id, $run_id).
MATCH (e:Entity)
// any key that is set selects through its index; the rest is the exact scope
WHERE (e.user_id = $user_id OR e.agent_id = $agent_id OR e.run_id = $run_id)
  AND ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
RETURN e {.*} AS e
ORDER BY e.scope_key, e.created_at, e.id
