// How many sources each normalised name titles (a speaker titles all of their messages); one
// row, names that title none are left out.
MATCH (s:Source)
WHERE s.title_norm IN $names
  AND ($user_id IS NULL OR s.user_id = $user_id)
  AND ($agent_id IS NULL OR s.agent_id = $agent_id)
  AND ($run_id IS NULL OR s.run_id = $run_id)
WITH s.title_norm AS name, count(s) AS n
RETURN collect([name, n]) AS counts
