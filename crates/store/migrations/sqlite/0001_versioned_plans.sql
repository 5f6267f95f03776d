-- Plans, their versions, and their items stored as validity intervals.
-- A row of plan_items is one version of one item, valid from version `valid_from` (inclusive)
-- until `valid_to` (exclusive); the current row has valid_to = 9223372036854775807.

CREATE TABLE plans (
    id            TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL UNIQUE,
    version       BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- A projection of the current person, for look-up and listing only.
    nhs_number    TEXT UNIQUE,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    search_name   TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX plans_search_name ON plans (search_name);

CREATE TABLE plan_versions (
    plan_id    TEXT NOT NULL,
    number     BIGINT NOT NULL,
    at         TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    format     INTEGER NOT NULL,
    command    TEXT NOT NULL,
    reason     TEXT,
    PRIMARY KEY (plan_id, number)
) WITHOUT ROWID;

CREATE TABLE plan_items (
    plan_id    TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    valid_to   BIGINT NOT NULL,
    format     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (plan_id, valid_from, kind, item_id)
) WITHOUT ROWID;

-- Finds the rows still valid after a version (the current rows first of all).
CREATE INDEX plan_items_until ON plan_items (plan_id, valid_to, kind, item_id);
