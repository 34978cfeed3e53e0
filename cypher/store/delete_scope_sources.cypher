// Sources of the scope with their DERIVED_FROM and MENTIONS links.
MATCH (s:Source)
USING INDEX SEEK s:Source(run_id)
USING INDEX SEEK s:Source(user_id)
USING INDEX SEEK s:Source(agent_id)
// one scope key seeks through its index ($by_*: the store sets one; the hints keep that
// plan whatever the statistics say); the rest is the exact scope
WHERE (s.run_id = $by_run OR s.user_id = $by_user OR s.agent_id = $by_agent)
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
DETACH DELETE s
