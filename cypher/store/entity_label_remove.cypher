// Remove the label of an entity's previous type (validated like entity_label_add).
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})
USING INDEX SEEK e:Entity(id)
REMOVE e:$(row.label)
