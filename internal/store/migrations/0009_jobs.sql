-- Batch jobs. A job is a spec (JSON the jobs package owns) with an optional
-- cron schedule; next_run_at is when the scheduler creates its next run, and
-- a scheduler moves it with a compare-and-set so two nodes cannot both start
-- the same run. A run is one execution split into shards; workers claim
-- shards with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED) that they renew
-- while they work, and a shard whose lease ran out is claimed again. attempt
-- grows with every claim and fences a worker that lost its lease.

CREATE TABLE jobs (
    name        TEXT   NOT NULL PRIMARY KEY,
    spec        TEXT   NOT NULL,
    schedule    TEXT   NOT NULL DEFAULT '',
    next_run_at BIGINT NOT NULL DEFAULT 0,
    runs        BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    created_by  TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE job_runs (
    id          TEXT    NOT NULL PRIMARY KEY,
    job         TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    model       TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 0,
    shards      INTEGER NOT NULL,
    rows_in     BIGINT  NOT NULL DEFAULT 0,
    rows_out    BIGINT  NOT NULL DEFAULT 0,
    rejected    BIGINT  NOT NULL DEFAULT 0,
    drift       TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL DEFAULT 0,
    finished_at BIGINT  NOT NULL DEFAULT 0,
    created_by  TEXT    NOT NULL DEFAULT '',
    UNIQUE (job, seq)
);

CREATE INDEX job_runs_status ON job_runs (status);

CREATE TABLE job_shards (
    run         TEXT    NOT NULL,
    shard       INTEGER NOT NULL,
    range_start BIGINT  NOT NULL,
    range_end   BIGINT  NOT NULL,
    status      TEXT    NOT NULL,
    worker      TEXT    NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    lease_until BIGINT  NOT NULL DEFAULT 0,
    rows_in     BIGINT  NOT NULL DEFAULT 0,
    rows_out    BIGINT  NOT NULL DEFAULT 0,
    rejected    BIGINT  NOT NULL DEFAULT 0,
    output      TEXT    NOT NULL DEFAULT '',
    drift       TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (run, shard)
);

CREATE INDEX job_shards_claim ON job_shards (status, lease_until);

CREATE TABLE job_events (
    run     TEXT   NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    message TEXT   NOT NULL,
    PRIMARY KEY (run, seq)
);
