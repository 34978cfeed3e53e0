// Entities of the scope with all their relationships (relations and mentions).
MATCH (e:Entity)
USING INDEX SEEK e:Entity(run_id)
USING INDEX SEEK e:Entity(user_id)
USING INDEX SEEK e:Entity(agent_id)
// one scope key seeks through its index ($by_*: the store sets one; the hints keep that
// plan whatever the statistics say); the rest is the exact scope
WHERE (e.run_id = $by_run OR e.user_id = $by_user OR e.agent_id = $by_agent)
  AND ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
DETACH DELETE e
