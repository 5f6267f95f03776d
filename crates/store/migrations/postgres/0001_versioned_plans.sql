-- Plans, their versions, and their items, system-versioned: each item's current state lives in
-- plan_items_current (updated in place), and every earlier state moves to plan_items_history with
-- the interval of versions it was valid for: valid_from (inclusive) to valid_to (exclusive).

CREATE TABLE plans (
    id            TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL UNIQUE,
    -- The head: the latest version and when it was committed.
    version       BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- A projection of the current person, for look-up and listing only.
    nhs_number    TEXT UNIQUE,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    search_name   TEXT NOT NULL
);

CREATE INDEX plans_family_name ON plans (family_name, given_name);

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
);

CREATE TABLE plan_items_current (
    plan_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    format     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (plan_id, kind, item_id)
);

CREATE TABLE plan_items_history (
    plan_id    TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    valid_to   BIGINT NOT NULL,
    format     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (plan_id, valid_from, kind, item_id)
);

-- Finds the rows that were still valid after a version (reads of late versions).
CREATE INDEX plan_items_history_until ON plan_items_history (plan_id, valid_to);
