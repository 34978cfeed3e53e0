// Take the write lock of one scope ($key: its scope key) in the caller's open transaction:
// the MERGE waits while another transaction holds the same key (the ScopeLock constraint),
// and the lock is held until this transaction ends. It is rolled back, never committed.
MERGE (l:ScopeLock {key: $key})
SET l.taken_at = datetime()
RETURN count(l) AS n
