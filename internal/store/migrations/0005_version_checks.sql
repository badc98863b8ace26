-- Checks run on a model version (pre-deployment gates), kept with the
-- version: when, by which rollout, whether they passed, and each check's
-- result as JSON.

CREATE TABLE version_checks (
    model   TEXT    NOT NULL,
    version INTEGER NOT NULL,
    seq     BIGINT  NOT NULL,
    at      BIGINT  NOT NULL,
    source  TEXT    NOT NULL,
    passed  INTEGER NOT NULL,
    results TEXT    NOT NULL,
    PRIMARY KEY (model, version, seq),
    FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
