// Package storetest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by SLUICE_TEST_POSTGRES (default: the local
// server at 127.0.0.1:5432, database test), dropped when the test ends.
//
// Without a reachable server the test is skipped locally and fails when the
// CI environment variable is set, where PostgreSQL must be present.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// DefaultPostgresDSN is used when SLUICE_TEST_POSTGRES is not set.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var pg struct {
	once  sync.Once
	base  string
	admin *sql.DB
	err   error
}

// PostgresBase returns the server DSN tests use.
func PostgresBase() string {
	if dsn := os.Getenv("SLUICE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultPostgresDSN
}

// RequirePostgres connects once per test binary; without PostgreSQL it
// skips t locally and fails it in CI.
func RequirePostgres(t testing.TB) {
	t.Helper()
	pg.once.Do(func() {
		pg.base = PostgresBase()
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
	t.Skipf("PostgreSQL not reachable at %s (%v); start one there or set SLUICE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB?sslmode=disable", pg.base, pg.err)
}

// PostgresDSN creates a schema for t alone and returns a DSN whose
// search_path selects it. The schema is dropped when t ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
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
