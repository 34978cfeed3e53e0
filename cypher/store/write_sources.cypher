UNWIND $rows AS row
MERGE (s:Source {id: row.id})
SET s += row.props
RETURN count(*) AS n
