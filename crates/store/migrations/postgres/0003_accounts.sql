-- Accounts, bearer tokens and browser sessions. No secret is stored as given: passwords are
-- Argon2id PHC strings, tokens and session ids are the hex SHA-256 of the value handed out.
-- Times are UTC, fixed-width RFC 3339 (YYYY-MM-DDTHH:MM:SS.ffffffZ), so they compare as text.

CREATE TABLE accounts (
    id                TEXT PRIMARY KEY,
    -- Lower-case: 1 to 64 of a-z, 0-9, '.', '_', '-'.
    username          TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    -- careplan_model::Role in snake_case.
    role              TEXT NOT NULL,
    -- The person a person, representative or carer account is linked to (plans.person_id).
    person_id         TEXT,
    organisation      TEXT,
    -- NULL: no password sign-in (a system account using tokens, or an external identity only).
    password_hash     TEXT,
    -- OpenID Connect: an external identity (issuer, subject) that signs in as this account.
    identity_provider TEXT,
    subject           TEXT,
    created_at        TEXT NOT NULL,
    disabled          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (identity_provider, subject)
);

CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

CREATE INDEX api_tokens_account ON api_tokens (account_id);

CREATE TABLE sessions (
    session_hash TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
