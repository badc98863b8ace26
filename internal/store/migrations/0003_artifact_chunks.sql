-- Artifacts kept in the shared store, in chunks, so that every node of a
-- deployment on PostgreSQL can load any version without a shared disk. Each
-- node caches what it reads in its own artifact directory. (BYTEA is a
-- valid column type on both engines; SQLite stores the bytes as a BLOB.)
CREATE TABLE artifact_chunks (
    digest TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    data   BYTEA   NOT NULL,
    PRIMARY KEY (digest, seq)
);
