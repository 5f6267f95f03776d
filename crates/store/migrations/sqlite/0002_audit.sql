-- The audit trail (CSP-1, "No one where they don't belong"): every read and write of plan data,
-- append-only and hash-chained. Each row's hash covers its previous row's hash and every stored
-- field (the exact encoding is documented in crates/store/src/audit.rs), so an edited, deleted or
-- inserted row breaks the chain and `careplan audit verify` names it.

CREATE TABLE audit_log (
    -- INTEGER PRIMARY KEY is SQLite's 64-bit rowid: the same range as BIGINT, integers only.
    -- Assigned by the application (the head's seq + 1), never by AUTOINCREMENT.
    seq              INTEGER PRIMARY KEY,
    at               TEXT NOT NULL,
    actor_id         TEXT NOT NULL,
    actor_name       TEXT NOT NULL,
    actor_role       TEXT NOT NULL,
    -- read_plan, read_version, read_history, read_diff, create_plan, write, release_created, …
    action           TEXT NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied')),
    plan_id          TEXT,
    person_id        TEXT,
    version          BIGINT,
    detail           TEXT NOT NULL,
    -- The id of the data controller's release that this access used, if any.
    override_release TEXT,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);

CREATE INDEX audit_log_plan ON audit_log (plan_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);

-- The end of the chain: the last seq and its hash. Every append reads and moves this one row in
-- the same transaction as the rows it adds, so appends serialise (here through BEGIN IMMEDIATE)
-- and deleting rows from the end of the log is detected.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
