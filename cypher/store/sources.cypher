// Times are returned as epoch microseconds: cheaper for the driver than temporal values.
MATCH (s:Source)
USING INDEX SEEK s:Source(id)
WHERE s.id IN $ids
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
RETURN s {.*, created_at: s.created_at.epochSeconds * 1000000 + s.created_at.microsecond} AS s
ORDER BY s.id
