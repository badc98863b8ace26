-- Bandit state per endpoint, saved periodically so traffic shares learned
-- from rewards survive a restart.
CREATE TABLE bandit_state (
    endpoint   TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
