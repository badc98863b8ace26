-- Sluice control-plane schema, version 1.
--
-- Portable on purpose: the same file runs on SQLite and PostgreSQL. Numbers
-- (versions, revisions) are assigned by the store inside its transactions,
-- never by AUTOINCREMENT or SERIAL; timestamps are BIGINT unix nanoseconds
-- (UTC); JSON documents are TEXT the store validates before writing.

-- One row per model. latest_version is the counter CreateVersion bumps while
-- holding this row; versions are immutable and never deleted.
CREATE TABLE models (
    name           TEXT    NOT NULL PRIMARY KEY,
    description    TEXT    NOT NULL DEFAULT '',
    latest_version INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

CREATE TABLE versions (
    model       TEXT    NOT NULL REFERENCES models (name),
    version     INTEGER NOT NULL,
    format      TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    labels      TEXT    NOT NULL DEFAULT '{}',
    metrics     TEXT    NOT NULL DEFAULT '{}',
    signature   TEXT    NOT NULL DEFAULT '',
    params      TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (model, version)
);

-- Which versions use a blob: lets artifact garbage collection find orphans.
CREATE INDEX versions_digest ON versions (digest);

-- Current alias -> version pointers.
CREATE TABLE aliases (
    model      TEXT    NOT NULL,
    alias      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at BIGINT  NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES versions (model, version)
);

-- Every alias move or deletion, keyed by the serving revision it produced
-- (unique across the store, so it also orders changes). version 0 means the
-- alias was deleted; previous 0 means it did not exist before.
CREATE TABLE alias_history (
    revision   BIGINT  NOT NULL PRIMARY KEY,
    model      TEXT    NOT NULL,
    alias      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    previous   INTEGER NOT NULL,
    changed_at BIGINT  NOT NULL,
    changed_by TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX alias_history_model ON alias_history (model, revision);

CREATE TABLE endpoints (
    name       TEXT   NOT NULL PRIMARY KEY,
    spec       TEXT   NOT NULL,
    revision   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every revision of every endpoint, including deletions (deleted = 1, spec =
-- the last spec). Kept after the endpoint is deleted; a re-created endpoint
-- continues the numbering so a revision number never means two specs.
CREATE TABLE endpoint_history (
    name       TEXT    NOT NULL,
    revision   BIGINT  NOT NULL,
    spec       TEXT    NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    changed_at BIGINT  NOT NULL,
    PRIMARY KEY (name, revision)
);

-- The serving revision: one row, bumped by every change that affects routing.
CREATE TABLE serving_revision (
    id    INTEGER NOT NULL PRIMARY KEY,
    value BIGINT  NOT NULL
);

INSERT INTO serving_revision (id, value) VALUES (1, 0);
