package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The conformance suite: every test in conformanceTests runs against every
// backend, each on a fresh database (a SQLite file in t.TempDir(), or a
// PostgreSQL schema of its own that is dropped afterwards).

const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type conformanceTest struct {
	name string
	// run gets a DSN for a fresh, empty database; it may Open it repeatedly.
	run func(t *testing.T, dsn string)
}

// conformanceTests lists every test of the suite, one slice per concern.
var conformanceTests = slices.Concat(migrationTests, versionTests, aliasTests, endpointTests)

type backend struct {
	name string
	// available skips or fails t when the backend cannot be used.
	available func(t *testing.T)
	// freshDSN returns a DSN for an empty database that is removed when t ends.
	freshDSN func(t *testing.T) string
}

var backends = []backend{
	{name: DialectSQLite, available: func(*testing.T) {}, freshDSN: sqliteDSN},
	{name: DialectPostgres, available: requirePostgres, freshDSN: postgresDSN},
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.available(t)
			for _, tc := range conformanceTests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b.freshDSN(t)) })
			}
		})
	}
}

func sqliteDSN(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "sluice.db")
}

var pg struct {
	once  sync.Once
	base  string
	admin *sql.DB
	err   error
}

func postgresBase() string {
	if dsn := os.Getenv("SLUICE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultPostgresDSN
}

// requirePostgres connects once per test binary. Without PostgreSQL the
// PostgreSQL half of the suite is skipped locally and fails in CI.
func requirePostgres(t *testing.T) {
	t.Helper()
	pg.once.Do(func() {
		pg.base = postgresBase()
		pg.admin, pg.err = sql.Open("pgx", pg.base)
		if pg.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pg.err = pg.admin.PingContext(ctx)
	})
	if pg.err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is required in CI at %s (set SLUICE_TEST_POSTGRES to change it): %v", pg.base, pg.err)
	}
	t.Skipf("PostgreSQL not reachable at %s (%v); start one there or set SLUICE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB?sslmode=disable to run the PostgreSQL conformance tests", pg.base, pg.err)
}

// postgresDSN creates a schema for t alone and returns a DSN whose
// search_path selects it.
func postgresDSN(t *testing.T) string {
	t.Helper()
	requirePostgres(t)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	schema := "sluice_test_" + hex.EncodeToString(rnd[:])
	if _, err := pg.admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pg.admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(pg.base)
	if err != nil {
		t.Fatalf("SLUICE_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens dsn and closes it when t ends.
func openStore(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// fakeClock returns a clock that advances one second per call from a fixed
// start, so timestamps in tests are distinct and predictable.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn                     string
		driver, source, dialect string
		wantErr                 bool
	}{
		{dsn: "postgres://u@h/db", driver: "pgx", source: "postgres://u@h/db", dialect: DialectPostgres},
		{dsn: "postgresql://u@h/db?sslmode=disable", driver: "pgx", source: "postgresql://u@h/db?sslmode=disable", dialect: DialectPostgres},
		{dsn: "sqlite:/data/s.db", driver: "sqlite", source: "/data/s.db?" + sqliteParams, dialect: DialectSQLite},
		{dsn: "/data/s.db", driver: "sqlite", source: "/data/s.db?" + sqliteParams, dialect: DialectSQLite},
		{dsn: "rel/s.db", driver: "sqlite", source: "rel/s.db?" + sqliteParams, dialect: DialectSQLite},
		{dsn: "sqlite:s.db?_pragma=synchronous(NORMAL)", driver: "sqlite", source: "s.db?" + sqliteParams + "&_pragma=synchronous(NORMAL)", dialect: DialectSQLite},
		{dsn: "mysql://u@h/db", wantErr: true},
		{dsn: "", wantErr: true},
		{dsn: "sqlite:", wantErr: true},
		{dsn: ":memory:", wantErr: true},
		{dsn: "sqlite:s.db?%zz", wantErr: true},
	}
	for _, tt := range tests {
		driver, source, dialect, err := parseDSN(tt.dsn)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseDSN(%q) = %q, %q, nil; want an error", tt.dsn, driver, source)
			}
			continue
		}
		if err != nil || driver != tt.driver || source != tt.source || dialect != tt.dialect {
			t.Errorf("parseDSN(%q) = %q, %q, %q, %v; want %q, %q, %q, nil", tt.dsn, driver, source, dialect, err, tt.driver, tt.source, tt.dialect)
		}
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{"SELECT 'it''s?', ?", "SELECT 'it''s?', $1"},
	}
	for _, tt := range tests {
		if got := (runner{pg: true}).rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := (runner{}).rebind(tt.in); got != tt.in {
			t.Errorf("SQLite rebind(%q) = %q; want it unchanged", tt.in, got)
		}
	}
}
