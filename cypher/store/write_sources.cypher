UNWIND $rows AS row
MERGE (s:Source {id: row.id})
SET s += row.props, s.created_at = datetime(row.created_at)
RETURN count(*) AS n
