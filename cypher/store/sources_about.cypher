// Sources titled by one of the normalised names: the passages *about* those entities (or the
// messages of a speaker), for the names that title at most $limit sources. The seek is on one
// scope key with the title (see store/title_counts).
MATCH (s:Source)
USING INDEX SEEK s:Source(run_id, title_norm)
USING INDEX SEEK s:Source(user_id, title_norm)
USING INDEX SEEK s:Source(agent_id, title_norm)
WHERE (s.run_id = $by_run OR s.user_id = $by_user OR s.agent_id = $by_agent)
  AND s.title_norm IN $names
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
WITH s.title_norm AS name, s.id AS id
ORDER BY id
WITH name, collect(id)[..$limit + 1] AS ids
WHERE size(ids) <= $limit
RETURN name, ids AS source_ids
ORDER BY name
