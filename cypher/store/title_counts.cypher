// How many sources each normalised name titles (a speaker titles all of their messages),
// counted up to $limit per name, so a speaker's thousand messages cost no more than 21; one
// row, names that title none are left out. The seek is on one scope key with the title
// ($by_*: the store sets one; composite indexes), so other scopes' sources of the same title
// are never read.
UNWIND $names AS name
CALL (name) {
  MATCH (s:Source)
  USING INDEX SEEK s:Source(run_id, title_norm)
  USING INDEX SEEK s:Source(user_id, title_norm)
  USING INDEX SEEK s:Source(agent_id, title_norm)
  WHERE (s.run_id = $by_run OR s.user_id = $by_user OR s.agent_id = $by_agent)
    AND s.title_norm = name
    AND ($user_id IS NULL OR s.user_id = $user_id)
    AND ($agent_id IS NULL OR s.agent_id = $agent_id)
    AND ($run_id IS NULL OR s.run_id = $run_id)
  WITH s
  LIMIT $limit
  RETURN count(s) AS n
}
WITH name, n
WHERE n > 0
RETURN collect([name, n]) AS counts
