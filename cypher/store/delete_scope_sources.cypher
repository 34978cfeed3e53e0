// Sources of the scope with their DERIVED_FROM and MENTIONS links.
MATCH (s:Source)
// any key that is set selects through its index; the rest is the exact scope
WHERE (s.user_id = $user_id OR s.agent_id = $agent_id OR s.run_id = $run_id)
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
DETACH DELETE s
