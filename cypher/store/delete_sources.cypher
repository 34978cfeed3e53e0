// Sources by id, with their DERIVED_FROM and MENTIONS links (a deleted memory's messages that
// back no other memory).
MATCH (s:Source)
USING INDEX SEEK s:Source(id)
WHERE s.id IN $source_ids
DETACH DELETE s
