// One chunk of graphmem's own nodes (and their relationships); run until it returns 0.
MATCH (n)
WHERE n:Entity OR n:Fact OR n:Source
WITH n LIMIT $chunk
DETACH DELETE n
RETURN count(*) AS n
