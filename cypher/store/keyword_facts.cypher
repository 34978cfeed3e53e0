// Keyword search over facts. $query is Lucene query text built by graphmem from the words of
// the user's query (each a quoted, escaped phrase) and the scope keys (zero-weight phrases
// that only narrow); Lucene ranks the first $fetch hits. Here the exact scope, validity and
// a real word match (score > 0) are checked; the $k best that pass are returned, with how
// many hits were read (when too few pass and Lucene had more, the caller reads more).
CALL db.index.fulltext.queryNodes('graphmem_fact_text', $query, {limit: $fetch})
YIELD node, score
WITH collect({id: node.id, score: score, node: node}) AS hits
RETURN size(hits) AS fetched,
  [h IN hits
    WHERE h.score > 0
      AND ($user_id IS NULL OR h.node.user_id = $user_id)
      AND ($agent_id IS NULL OR h.node.agent_id = $agent_id)
      AND ($run_id IS NULL OR h.node.run_id = $run_id)
      AND ($include_invalid OR h.node.invalid_at IS NULL)
    | {id: h.id, score: h.score}][..$k] AS found
