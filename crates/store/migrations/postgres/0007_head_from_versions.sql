-- A plan's head (its latest version and when it was committed) is the last row of its
-- plan_versions, found by the primary key's last entry for the plan. Keeping a copy in `plans`
-- made every change rewrite a row of `plans` as well; `plans` now changes only when the
-- person's details do.
ALTER TABLE plans DROP COLUMN version, DROP COLUMN updated_at;
