-- Each item's earlier states sit together, in version order: plan_items_history is keyed by
-- (plan_id, kind, item_id, valid_from), and the `until` index on (plan_id, valid_to) is gone.
-- Reading version v takes, for each current item that changed after v, its last earlier state
-- that began at or before v: one seek per such item, whatever v is, where the old key made the
-- middle of a long history walk many rows. An edit now writes the history row and no index.
--
-- Each current row also records the version its item was added in (`added_in`), so that a read
-- of version v skips, without a seek, the items added after v.
DROP INDEX plan_items_history_until;
ALTER TABLE plan_items_history
    DROP CONSTRAINT plan_items_history_pkey,
    ADD PRIMARY KEY (plan_id, kind, item_id, valid_from);

ALTER TABLE plan_items_current ADD COLUMN added_in BIGINT NOT NULL DEFAULT 0;

UPDATE plan_items_current SET added_in = COALESCE(
    (SELECT min(h.valid_from) FROM plan_items_history h
     WHERE h.plan_id = plan_items_current.plan_id AND h.kind = plan_items_current.kind
       AND h.item_id = plan_items_current.item_id),
    valid_from);
