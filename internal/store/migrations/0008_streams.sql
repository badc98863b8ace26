-- Streams: one row per stream pipeline with its document (spec) as JSON.
-- generation grows with every change so the nodes running a stream see
-- that they must restart it.
CREATE TABLE streams (
    name       TEXT   NOT NULL PRIMARY KEY,
    spec       TEXT   NOT NULL,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL DEFAULT ''
);

-- Window state of windowed streams, one row per key, checkpointed by the
-- pipeline before it acknowledges its input; and the pipeline's own
-- checkpoint record (the ids of messages already counted).
CREATE TABLE stream_state (
    stream     TEXT   NOT NULL,
    state_key  TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (stream, state_key)
);

CREATE TABLE stream_checkpoints (
    stream     TEXT   NOT NULL PRIMARY KEY,
    meta       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Leases: a windowed stream runs on one node at a time, the holder of its
-- lease, which it renews; another node takes over when it expires.
CREATE TABLE stream_leases (
    stream     TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
