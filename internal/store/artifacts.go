package store

import (
	"context"
	"fmt"
	"io"
)

// ArtifactChunkSize is the size of one stored artifact chunk.
const ArtifactChunkSize = 4 << 20

// HasArtifact reports whether the store holds an artifact.
func (db *DB) HasArtifact(ctx context.Context, digest string) (bool, error) {
	var n int
	if err := db.r().queryRow(ctx, `SELECT COUNT(*) FROM artifact_chunks WHERE digest = ? AND seq = 0`, digest).Scan(&n); err != nil {
		return false, fmt.Errorf("looking up artifact %s: %w", digest, err)
	}
	return n > 0, nil
}

// PutArtifact stores an artifact's bytes in chunks, in one transaction; an
// artifact already stored is left as it is.
func (db *DB) PutArtifact(ctx context.Context, digest string, data []byte) error {
	if has, err := db.HasArtifact(ctx, digest); err != nil || has {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		for seq, off := 0, 0; off < len(data) || seq == 0; seq++ {
			end := min(off+ArtifactChunkSize, len(data))
			if _, err := r.exec(ctx, `INSERT INTO artifact_chunks (digest, seq, data) VALUES (?, ?, ?)`, digest, seq, data[off:end]); err != nil {
				return err
			}
			off = end
		}
		return nil
	})
	if err != nil {
		if has, herr := db.HasArtifact(ctx, digest); herr == nil && has {
			return nil // a concurrent push of the same file won
		}
		return fmt.Errorf("storing artifact %s: %w", digest, err)
	}
	return nil
}

// ReadArtifact writes a stored artifact to w, chunk by chunk.
func (db *DB) ReadArtifact(ctx context.Context, digest string, w io.Writer) error {
	rows, err := db.r().query(ctx, `SELECT data FROM artifact_chunks WHERE digest = ? ORDER BY seq`, digest)
	if err != nil {
		return fmt.Errorf("reading artifact %s: %w", digest, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return fmt.Errorf("reading artifact %s: %w", digest, err)
		}
		found = true
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading artifact %s: %w", digest, err)
	}
	if !found {
		return fmt.Errorf("artifact %s: %w", digest, ErrNotFound)
	}
	return nil
}
