// Sources titled by one of the normalised names: the passages *about* those entities.
MATCH (s:Source)
WHERE s.title_norm IN $names
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
RETURN s.title_norm AS name, s.id AS source_id
ORDER BY name, source_id
