package store

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store/storetest"
)

// The conformance suite: every test in conformanceTests runs against every
// backend, each on a fresh database (a SQLite file in t.TempDir(), or a
// PostgreSQL schema of its own that is dropped afterwards).

type conformanceTest struct {
	name string
	// run gets a DSN for a fresh, empty database; it may Open it repeatedly.
	run func(t *testing.T, dsn string)
}

// conformanceTests lists every test of the suite, one slice per concern.
var conformanceTests = slices.Concat(migrationTests, versionTests, aliasTests, endpointTests, banditTests, artifactTests, auditTests, rolloutTests, streamTests, jobTests)

type backend struct {
	name string
	// available skips or fails t when the backend cannot be used.
	available func(t *testing.T)
	// freshDSN returns a DSN for an empty database that is removed when t ends.
	freshDSN func(t *testing.T) string
}

var backends = []backend{
	{name: DialectSQLite, available: func(*testing.T) {}, freshDSN: sqliteDSN},
	{name: DialectPostgres, available: func(t *testing.T) { storetest.RequirePostgres(t) }, freshDSN: postgresDSN},
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

// postgresDSN creates a schema for t alone and returns a DSN whose
// search_path selects it.
func postgresDSN(t *testing.T) string { return storetest.PostgresDSN(t) }

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
