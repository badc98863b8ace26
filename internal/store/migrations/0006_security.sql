-- Security and audit: API tokens, the hash-chained audit log, signed
-- audit heads, approvals, and artifact signatures on versions.

-- API tokens. Only the sha256 of a token is kept; the token itself is shown
-- once when it is created. expires_at and revoked_at are 0 when unset.
CREATE TABLE api_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    role       TEXT   NOT NULL,
    hash       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT NOT NULL DEFAULT 0
);

-- Server settings as key -> JSON value.
CREATE TABLE settings (
    key        TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT   NOT NULL DEFAULT ''
);

-- The audit log: one row per change, numbered 1, 2, 3... without gaps.
-- hash = sha256(canonical(seq, at, actor, action, object, before, after,
-- prev_hash)); see internal/audit.
CREATE TABLE audit_events (
    seq       BIGINT NOT NULL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    object    TEXT   NOT NULL,
    before    TEXT   NOT NULL DEFAULT '',
    after     TEXT   NOT NULL DEFAULT '',
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL
);

CREATE INDEX audit_events_object ON audit_events (object, seq);

-- The chain head: one row, updated in the transaction that appends an
-- event, so appends are ordered (its row lock on PostgreSQL, the single
-- writer on SQLite).
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY,
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- Chain heads signed with the server's ed25519 audit key.
CREATE TABLE audit_signatures (
    seq       BIGINT NOT NULL PRIMARY KEY,
    hash      TEXT   NOT NULL,
    signed_at BIGINT NOT NULL,
    key_id    TEXT   NOT NULL,
    signature TEXT   NOT NULL
);

-- Approval requests (two-person rule). status is pending, approved or
-- rejected; decided_by must differ from requester.
CREATE TABLE approvals (
    id         TEXT   NOT NULL PRIMARY KEY,
    object     TEXT   NOT NULL,
    summary    TEXT   NOT NULL DEFAULT '',
    requester  TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    decided_by TEXT   NOT NULL DEFAULT '',
    reason     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    decided_at BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX approvals_object ON approvals (object, created_at);

-- A version's artifact signature, JSON {"keyId","signature"}; '' when unsigned.
ALTER TABLE versions ADD COLUMN artifact_signature TEXT NOT NULL DEFAULT '';
