// Entities of the scope whose normalised name or alias is one of $norms.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
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
  AND (e.norm IN $norms OR any(n IN coalesce(e.alias_norms, []) WHERE n IN $norms))
RETURN e {.*, created_at: e.created_at.epochSeconds * 1000000 + e.created_at.microsecond} AS e
ORDER BY e.scope_key, e.created_at, e.id
