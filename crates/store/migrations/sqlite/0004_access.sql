-- Who is on each plan's care team: a projection of the plan's active care-team items that name
-- an account, kept in the same transaction as the version that changed them. Gives a
-- practitioner's caseload without reading every plan.
CREATE TABLE plan_members (
    account TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    PRIMARY KEY (account, plan_id)
);

CREATE INDEX plan_members_plan ON plan_members (plan_id);

-- Data-controller releases of all or part of a restricted plan (CSP-1): who, why, which part,
-- for whom, until when. Never deleted; expired releases stay as history.
CREATE TABLE releases (
    id              TEXT PRIMARY KEY,
    plan_id         TEXT NOT NULL,
    scope           TEXT NOT NULL,
    audience        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    granted_by_id   TEXT NOT NULL,
    granted_by_name TEXT NOT NULL,
    granted_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

CREATE INDEX releases_plan ON releases (plan_id, granted_at);
