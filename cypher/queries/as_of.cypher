// What held at a moment: the relations begun by $at (at their event time, else when written) and not ended by then, superseded since or not, with their facts. $user_id, $at (ISO date/datetime, no zone = UTC); optional $limit (100), $agent_id, $run_id.
// The rule of search(as_of=...). Stored datetimes may carry any UTC offset, and Cypher orders
// equal instants with different offsets by offset, so instants are compared as integer
// nanoseconds since the epoch.
WITH datetime($at) AS t
WITH t.epochSeconds * 1000000000 + t.nanosecond AS at
MATCH (a:Entity)
WHERE a.user_id = $user_id
  AND ($agent_id IS NULL OR a.agent_id = $agent_id)
  AND ($run_id IS NULL OR a.run_id = $run_id)
MATCH (a)-[r]->(b:Entity)
WITH a, r, b, at, coalesce(r.valid_from, r.created_at) AS began
WHERE began.epochSeconds * 1000000000 + began.nanosecond <= at
  AND (r.invalid_at IS NULL
    OR r.invalid_at.epochSeconds * 1000000000 + r.invalid_at.nanosecond > at)
OPTIONAL MATCH (f:Fact {id: r.fact_id})
RETURN a.name + ' -[' + type(r) + ']-> ' + b.name AS relation, f.text AS fact,
  r.valid_from AS valid_from, r.invalid_at AS invalid_at, r.id AS id
ORDER BY relation
LIMIT coalesce($limit, 100)
