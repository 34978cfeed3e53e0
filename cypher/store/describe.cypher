// Counts of node labels and relationship types stored for the scope (for inspection). The
// scope's nodes are found through the index of one scope key ($by_*: the store sets one);
// every relationship ends at a node of its own scope (an entity, or a fact's source), so each
// is counted once, from its end.
CALL () {
  MATCH (n:Entity)
  USING INDEX SEEK n:Entity(run_id)
  USING INDEX SEEK n:Entity(user_id)
  USING INDEX SEEK n:Entity(agent_id)
  WHERE n.run_id = $by_run OR n.user_id = $by_user OR n.agent_id = $by_agent
  RETURN n
  UNION
  MATCH (n:Fact)
  USING INDEX SEEK n:Fact(run_id)
  USING INDEX SEEK n:Fact(user_id)
  USING INDEX SEEK n:Fact(agent_id)
  WHERE n.run_id = $by_run OR n.user_id = $by_user OR n.agent_id = $by_agent
  RETURN n
  UNION
  MATCH (n:Source)
  USING INDEX SEEK n:Source(run_id)
  USING INDEX SEEK n:Source(user_id)
  USING INDEX SEEK n:Source(agent_id)
  WHERE n.run_id = $by_run OR n.user_id = $by_user OR n.agent_id = $by_agent
  RETURN n
}
WITH n
WHERE ($user_id IS NULL OR n.user_id = $user_id)
  AND ($agent_id IS NULL OR n.agent_id = $agent_id)
  AND ($run_id IS NULL OR n.run_id = $run_id)
CALL (n) {
  UNWIND labels(n) AS name
  RETURN 'label' AS kind, name
  UNION ALL
  MATCH (n)<-[r]-()
  WHERE ($user_id IS NULL OR r.user_id = $user_id)
    AND ($agent_id IS NULL OR r.agent_id = $agent_id)
    AND ($run_id IS NULL OR r.run_id = $run_id)
  RETURN 'relationship' AS kind, type(r) AS name
}
RETURN kind, name, count(*) AS n
