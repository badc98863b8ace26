package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

//go:embed migrations/*.sql
var migrations embed.FS

func migrationFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// migration is one schema change, read from NNNN_name.sql.
type migration struct {
	version int
	file    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]+)_[a-z0-9_]+\.sql$`)

// loadMigrations reads the .sql files at the root of fsys. Versions must run
// 1, 2, 3... without gaps, so "the binary knows N migrations" is one number.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_description.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, file: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration file %q: expected version %d (versions start at 1 without gaps)", m.file, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations in fsys that the database has not seen yet,
// one transaction per migration.
func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	for {
		applied, err := db.migrateStep(ctx, ms)
		if err != nil || !applied {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any, in one transaction
// together with its schema_migrations row, so a failed migration leaves the
// schema as it was. On PostgreSQL the transaction first takes an advisory
// lock, keyed by schema, so nodes starting together apply each migration
// once; the others wait, then find it recorded. On SQLite the transaction's
// BEGIN IMMEDIATE does the same.
func (db *DB) migrateStep(ctx context.Context, ms []migration) (applied bool, err error) {
	err = db.inTx(ctx, func(r runner) error {
		if r.pg {
			const lock = `SELECT pg_advisory_xact_lock(hashtext('sluice.migrate.' || coalesce(current_schema(), '')))`
			if _, err := r.exec(ctx, lock); err != nil {
				return fmt.Errorf("taking migration lock: %w", err)
			}
		}
		const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			file       TEXT    NOT NULL,
			applied_at BIGINT  NOT NULL
		)`
		if _, err := r.exec(ctx, create); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		var current int
		if err := r.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		switch {
		case current > len(ms):
			return fmt.Errorf("database schema is at version %d but this sluice binary only knows versions up to %d: "+
				"it was migrated by a newer sluice; run that version or newer", current, len(ms))
		case current == len(ms):
			return nil
		}
		m := ms[current]
		if _, err := r.q.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("applying migration %s: %w", m.file, err)
		}
		ts, _ := db.timestamp()
		if _, err := r.exec(ctx, `INSERT INTO schema_migrations (version, file, applied_at) VALUES (?, ?, ?)`, m.version, m.file, ts); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.file, err)
		}
		applied = true
		return nil
	})
	return applied, err
}

// SchemaVersion reports the newest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.r().queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
