MATCH (s:Source)
WHERE s.id IN $ids
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
RETURN s {.*} AS s
ORDER BY s.id
