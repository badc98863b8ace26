-- Rollouts: one row per rollout with its spec and its persisted state, and
-- an append-only log of its transitions. generation grows with every write
-- so that two controllers (two nodes) cannot both apply a transition: a
-- write names the generation it read and fails if it moved.

CREATE TABLE rollouts (
    name       TEXT   NOT NULL PRIMARY KEY,
    endpoint   TEXT   NOT NULL,
    spec       TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    phase      TEXT   NOT NULL,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX rollouts_endpoint ON rollouts (endpoint);

CREATE TABLE rollout_events (
    rollout TEXT   NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    message TEXT   NOT NULL,
    data    TEXT   NOT NULL DEFAULT '{}',
    actor   TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (rollout, seq)
);
