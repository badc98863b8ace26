package store

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

var migrationTests = []conformanceTest{
	{"ReopenIsIdempotent", testReopenIsIdempotent},
	{"ConcurrentOpen", testConcurrentOpen},
	{"NewerSchemaRefused", testNewerSchemaRefused},
	{"FailedMigrationRollsBack", testFailedMigrationRollsBack},
}

func knownMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(migrationFS())
	if err != nil {
		t.Fatalf("loading embedded migrations: %v", err)
	}
	return ms
}

func countMigrations(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.r().queryRow(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testReopenIsIdempotent(t *testing.T, dsn string) {
	ctx := context.Background()
	want := len(knownMigrations(t))
	db := openStore(t, dsn)
	mustCreateVersion(t, db, testVersion("fraud"))
	for i := range 2 {
		again := openStore(t, dsn)
		if v, err := again.SchemaVersion(ctx); err != nil || v != want {
			t.Errorf("open #%d: SchemaVersion = %d, %v; want %d", i+2, v, err, want)
		}
		if n := countMigrations(t, again); n != want {
			t.Errorf("open #%d: schema_migrations has %d rows; want %d", i+2, n, want)
		}
		if _, err := again.GetVersion(ctx, "fraud", 1); err != nil {
			t.Errorf("open #%d: data written before is gone: %v", i+2, err)
		}
	}
}

// testConcurrentOpen starts several "nodes" on one empty database at once;
// the migration lock makes each migration run exactly once.
func testConcurrentOpen(t *testing.T, dsn string) {
	const nodes = 4
	var wg sync.WaitGroup
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(context.Background(), dsn)
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: Open: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	if n, want := countMigrations(t, dbs[0]), len(knownMigrations(t)); n != want {
		t.Errorf("schema_migrations has %d rows; want %d", n, want)
	}
}

func testNewerSchemaRefused(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	if _, err := db.r().exec(context.Background(),
		`INSERT INTO schema_migrations (version, file, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	again, err := Open(context.Background(), dsn)
	if err == nil {
		again.Close()
		t.Fatal("Open of a database from a newer binary succeeded")
	}
	for _, want := range []string{"schema is at version 999", "only knows versions up to", "newer sluice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q; want it to contain %q", err, want)
		}
	}
}

// testFailedMigrationRollsBack applies a migration whose second statement
// fails: its first statement and its schema_migrations row must both vanish.
func testFailedMigrationRollsBack(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	base := len(knownMigrations(t))
	fsys := fstest.MapFS{}
	fs.WalkDir(migrationFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(migrationFS(), path)
			fsys[path] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	next := fmt.Sprintf("%04d_broken.sql", base+1)
	fsys[next] = &fstest.MapFile{Data: []byte(
		"CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n")}

	err := db.migrate(ctx, fsys)
	if err == nil || !strings.Contains(err.Error(), "applying migration "+next) {
		t.Fatalf("migrate with a broken migration error = %v; want it to name %s", err, next)
	}
	if v, _ := db.SchemaVersion(ctx); v != base {
		t.Errorf("SchemaVersion after failure = %d; want %d", v, base)
	}
	var n int
	if err := db.r().queryRow(ctx, `SELECT COUNT(*) FROM half_done`).Scan(&n); err == nil {
		t.Error("table half_done exists: the failed migration was not rolled back")
	}

	fsys[next] = &fstest.MapFile{Data: []byte("CREATE TABLE half_done (x INTEGER);\n")}
	if err := db.migrate(ctx, fsys); err != nil {
		t.Fatalf("migrate with the fixed migration: %v", err)
	}
	if v, _ := db.SchemaVersion(ctx); v != base+1 {
		t.Errorf("SchemaVersion after fix = %d; want %d", v, base+1)
	}
}

func TestLoadMigrations(t *testing.T) {
	ms := knownMigrations(t)
	if len(ms) == 0 || ms[0].version != 1 || !strings.Contains(ms[0].sql, "CREATE TABLE") {
		t.Fatalf("embedded migrations = %+v; want version 1 first", ms)
	}
	bad := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"gap", fstest.MapFS{"0001_a.sql": {}, "0003_c.sql": {}}, `"0003_c.sql": expected version 2`},
		{"starts at 2", fstest.MapFS{"0002_b.sql": {}}, "expected version 1"},
		{"duplicate", fstest.MapFS{"0001_a.sql": {}, "1_b.sql": {}}, "expected version 2"},
		{"bad name", fstest.MapFS{"0001-init.sql": {}}, "name must be NNNN_description.sql"},
	}
	for _, tt := range bad {
		if _, err := loadMigrations(tt.fsys); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: loadMigrations error = %v; want %q", tt.name, err, tt.want)
		}
	}
}
