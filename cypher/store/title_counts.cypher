// How many sources each normalised name titles (a speaker titles all of their messages),
// counted up to $limit per name, so a speaker's thousand messages cost no more than 21; one
// row, names that title none are left out.
UNWIND $names AS name
CALL (name) {
  MATCH (s:Source {title_norm: name})
  WHERE ($user_id IS NULL OR s.user_id = $user_id)
    AND ($agent_id IS NULL OR s.agent_id = $agent_id)
    AND ($run_id IS NULL OR s.run_id = $run_id)
  WITH s
  LIMIT $limit
  RETURN count(s) AS n
}
WITH name, n
WHERE n > 0
RETURN collect([name, n]) AS counts
