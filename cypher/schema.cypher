// graphmem's Neo4j schema. Every statement is idempotent (IF NOT EXISTS); setup() runs them.
// Relations are relationships typed by their relation (WORKS_AT, ...). Neo4j 5 has no
// relationship property index that spans every type, so relations are found by fact through
// (:Fact).relation_sources (entity ids) and the unique :Entity(id) index instead.
CREATE CONSTRAINT graphmem_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT graphmem_fact_id IF NOT EXISTS FOR (n:Fact) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT graphmem_source_id IF NOT EXISTS FOR (n:Source) REQUIRE n.id IS UNIQUE;
CREATE INDEX graphmem_entity_user_id IF NOT EXISTS FOR (n:Entity) ON (n.user_id);
CREATE INDEX graphmem_entity_agent_id IF NOT EXISTS FOR (n:Entity) ON (n.agent_id);
CREATE INDEX graphmem_entity_run_id IF NOT EXISTS FOR (n:Entity) ON (n.run_id);
CREATE INDEX graphmem_fact_user_id IF NOT EXISTS FOR (n:Fact) ON (n.user_id);
CREATE INDEX graphmem_fact_agent_id IF NOT EXISTS FOR (n:Fact) ON (n.agent_id);
CREATE INDEX graphmem_fact_run_id IF NOT EXISTS FOR (n:Fact) ON (n.run_id);
CREATE INDEX graphmem_source_user_id IF NOT EXISTS FOR (n:Source) ON (n.user_id);
CREATE INDEX graphmem_source_agent_id IF NOT EXISTS FOR (n:Source) ON (n.agent_id);
CREATE INDEX graphmem_source_run_id IF NOT EXISTS FOR (n:Source) ON (n.run_id);
CREATE INDEX graphmem_entity_norm IF NOT EXISTS FOR (n:Entity) ON (n.norm);
CREATE FULLTEXT INDEX graphmem_entity_names IF NOT EXISTS
  FOR (n:Entity) ON EACH [n.name, n.aliases_text];
CREATE INDEX graphmem_source_title_norm IF NOT EXISTS FOR (n:Source) ON (n.title_norm);
// A title within one scope key: a speaker's name titles every message of theirs, in every
// scope, so a lookup by title alone would read other scopes' messages.
CREATE INDEX graphmem_source_user_title IF NOT EXISTS FOR (n:Source) ON (n.user_id, n.title_norm);
CREATE INDEX graphmem_source_agent_title IF NOT EXISTS FOR (n:Source) ON (n.agent_id, n.title_norm);
CREATE INDEX graphmem_source_run_title IF NOT EXISTS FOR (n:Source) ON (n.run_id, n.title_norm);
// The keyword signal: Lucene BM25 over fact texts and source contents and titles, shared by
// every process that uses this server. The `standard` analyzer drops the stop words that
// bm25s drops (the same 33) and stems nothing, as the embedded index does. The scope keys are
// indexed too, so that a query narrows to the scope inside Lucene (the exact scope is checked
// in Cypher).
CREATE FULLTEXT INDEX graphmem_fact_text IF NOT EXISTS
  FOR (n:Fact) ON EACH [n.text, n.user_id, n.agent_id, n.run_id]
  OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard'}};
CREATE FULLTEXT INDEX graphmem_source_text IF NOT EXISTS
  FOR (n:Source) ON EACH [n.content, n.title, n.user_id, n.agent_id, n.run_id]
  OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard'}};
// One writer per scope at a time: a writer MERGEs its scope's lock node in a transaction that
// it keeps open while it plans and applies the write, and then rolls back (the node is never
// committed). The constraint makes a second MERGE of the key wait for the first transaction;
// a writer that dies takes its transaction, and the lock, with its connection.
CREATE CONSTRAINT graphmem_scope_lock IF NOT EXISTS FOR (n:ScopeLock) REQUIRE n.key IS UNIQUE;
