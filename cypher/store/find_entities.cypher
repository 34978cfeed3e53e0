// Entities of the scope whose normalised name or alias is one of $norms.
// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
MATCH (e:Entity)
// any key that is set selects through its index; the rest is the exact scope
WHERE (e.user_id = $user_id OR e.agent_id = $agent_id OR e.run_id = $run_id)
  AND ($user_id IS NULL OR e.user_id = $user_id)
  AND ($agent_id IS NULL OR e.agent_id = $agent_id)
  AND ($run_id IS NULL OR e.run_id = $run_id)
  AND (e.norm IN $norms OR any(n IN coalesce(e.alias_norms, []) WHERE n IN $norms))
RETURN e {.*, created_at: e.created_at.epochSeconds * 1000000 + e.created_at.microsecond} AS e
ORDER BY e.scope_key, e.created_at, e.id
