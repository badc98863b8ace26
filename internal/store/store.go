package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteParams are appended to every SQLite DSN. WAL lets readers run beside
// the single writer; busy_timeout (set first, so that switching a new
// database to WAL also waits for another process doing the same) makes a
// second writer wait instead of failing at once; _txlock=immediate makes every read-write transaction take
// the write lock at BEGIN, so two read-modify-write transactions cannot both
// read and then deadlock upgrading their locks.
const sqliteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// DB is the control-plane store. It is safe for concurrent use; every method
// that writes more than one row does so in a single transaction.
type DB struct {
	sql     *sql.DB
	dialect string
	// now is the clock used for created/changed timestamps; tests replace it.
	now func() time.Time
}

// Open opens the store named by dsn and applies pending migrations.
//
// dsn is "postgres://..." or "postgresql://..." for PostgreSQL, or
// "sqlite:PATH" or a plain file path for SQLite. A SQLite path may carry extra
// driver parameters after '?'; they are added to the ones Open always sets.
func Open(ctx context.Context, dsn string) (*DB, error) {
	driver, source, dialect, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	sqldb, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("opening %s store: %w", dialect, err)
	}
	db := &DB{sql: sqldb, dialect: dialect, now: time.Now}
	if err := db.connect(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connecting to %s store: %w", dialect, err)
	}
	if err := db.migrate(ctx, migrationFS()); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("migrating %s store: %w", dialect, err)
	}
	return db, nil
}

// connect opens the first connection. A new SQLite database is switched to
// WAL when its first connection opens; that takes an exclusive lock, and when
// several processes open the same new file at once SQLite can answer
// SQLITE_BUSY at once rather than through the busy handler. Those are retried
// for as long as busy_timeout would have waited.
func (db *DB) connect(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.sql.PingContext(ctx)
		if err == nil || db.dialect != DialectSQLite || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// parseDSN picks the driver for dsn. Unknown schemes are an error rather than
// being taken for a file name.
func parseDSN(dsn string) (driver, source, dialect string, err error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "pgx", dsn, DialectPostgres, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		dsn = strings.TrimPrefix(dsn, "sqlite:")
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", "", fmt.Errorf("store DSN scheme %q is not supported: use postgres://..., sqlite:PATH or a file path", scheme)
	}
	path, extra, _ := strings.Cut(dsn, "?")
	switch path {
	case "":
		return "", "", "", errors.New("store DSN: SQLite needs a file path (sqlite:PATH)")
	case ":memory:", "file::memory:":
		return "", "", "", errors.New("store DSN: in-memory SQLite is not supported, give a file path")
	}
	source = path + "?" + sqliteParams
	if extra != "" {
		if _, err := url.ParseQuery(extra); err != nil {
			return "", "", "", fmt.Errorf("store DSN parameters %q: %w", extra, err)
		}
		source += "&" + extra
	}
	return "sqlite", source, DialectSQLite, nil
}

// Close closes the underlying connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Dialect reports which database backs the store: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database answers; readiness probes call it.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with '?' placeholders against either dialect.
type runner struct {
	q  querier
	pg bool
}

func (db *DB) r() runner { return runner{q: db.sql, pg: db.dialect == DialectPostgres} }

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.rebind(query), args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.rebind(query), args...)
}

// forUpdate is appended to a SELECT that reads a row the transaction is about
// to change. PostgreSQL locks the row; SQLite has no row locks and needs none,
// because its write transactions start with BEGIN IMMEDIATE and so run one at
// a time.
func (r runner) forUpdate() string {
	if r.pg {
		return " FOR UPDATE"
	}
	return ""
}

// rebind rewrites '?' placeholders to PostgreSQL's $1, $2, ... It leaves
// question marks inside single-quoted literals alone.
func (r runner) rebind(query string) string {
	if !r.pg || !strings.Contains(query, "?") {
		return query
	}
	return rebindDollar(query)
}

func rebindDollar(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// inTx runs fn in one read-write transaction, committing if fn returns nil
// and rolling back otherwise. fn's error is returned unchanged.
func (db *DB) inTx(ctx context.Context, fn func(r runner) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(runner{q: tx, pg: db.dialect == DialectPostgres}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// timestamp returns the current time as stored (unix nanoseconds) and as
// returned to callers (UTC, same instant), so a value written and the value
// read back compare equal.
func (db *DB) timestamp() (int64, time.Time) {
	ns := db.now().UnixNano()
	return ns, fromNanos(ns)
}

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// isUniqueViolation reports whether err is a primary-key or unique
// constraint failure, which concurrent inserts of the same key produce.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// isBusy reports whether err is SQLite's SQLITE_BUSY, in any of its
// extended forms.
func isBusy(err error) bool {
	var liteErr *sqlite.Error
	return errors.As(err, &liteErr) && liteErr.Code()&0xff == sqlite3.SQLITE_BUSY
}

// queryAll runs q and scans each row with scan; what names the list in
// errors ("listing endpoints: ...").
func queryAll[T any](ctx context.Context, r runner, what string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}
