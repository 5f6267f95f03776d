-- Finding which plans hold an item with a given id (FHIR reads name a resource by type and id
-- only; item ids are unique within a plan, not across plans). Edits of an item change only its
-- valid_from and body, so this index costs nothing on the edit path: only new items add to it.
CREATE INDEX plan_items_current_item ON plan_items_current (item_id);
