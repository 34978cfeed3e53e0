CALL db.awaitIndexes($timeout)
