// Keyword search over sources (messages, passages), as store/keyword_facts over facts:
// sources are never superseded, only deleted (and a deleted one is no longer indexed).
CALL db.index.fulltext.queryNodes('graphmem_source_text', $query, {limit: $fetch})
YIELD node, score
WITH collect({id: node.id, score: score, node: node}) AS hits
RETURN size(hits) AS fetched,
  [h IN hits
    WHERE h.score > 0
      AND ($user_id IS NULL OR h.node.user_id = $user_id)
      AND ($agent_id IS NULL OR h.node.agent_id = $agent_id)
      AND ($run_id IS NULL OR h.node.run_id = $run_id)
    | {id: h.id, score: h.score}][..$k] AS found
