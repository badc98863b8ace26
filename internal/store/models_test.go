package store

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var versionTests = []conformanceTest{
	{"CreateAndReadVersions", testCreateAndReadVersions},
	{"VersionNumbersPerModel", testVersionNumbersPerModel},
	{"ConcurrentCreateVersion", testConcurrentCreateVersion},
	{"CreateVersionInvalid", testCreateVersionInvalid},
	{"CreateVersionFailureLeavesNothing", testCreateVersionFailureLeavesNothing},
	{"VersionNotFound", testVersionNotFound},
	{"ResolveVersion", testResolveVersion},
	{"ModelDescription", testModelDescription},
}

const testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func testVersion(model string) Version {
	return Version{Model: model, Format: "xgboost-json", Digest: testDigest, Size: 1234}
}

func mustCreateVersion(t *testing.T, db *DB, v Version) Version {
	t.Helper()
	got, err := db.CreateVersion(context.Background(), v)
	if err != nil {
		t.Fatalf("CreateVersion(%s): %v", v.Model, err)
	}
	return got
}

func testCreateAndReadVersions(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	db.now = fakeClock()

	full := Version{
		Model:       "fraud",
		Format:      "xgboost-json",
		Digest:      testDigest,
		Size:        1 << 40,
		Description: "gradient boosted trees — ünïcode",
		Labels:      map[string]string{"team": "risk", "data": "2024-q4"},
		Metrics:     map[string]float64{"auc": 0.9321, "logloss": 1e-9},
		Signature:   json.RawMessage(`{"inputs":[{"name":"amount","datatype":"FP32"}]}`),
		Params:      map[string]string{"threads": "4"},
		CreatedBy:   "alice",
		Aliases:     []string{"ignored"},
		Version:     99, // ignored: the store numbers versions
	}
	v1 := mustCreateVersion(t, db, full)
	want := full
	want.Version, want.Aliases = 1, nil
	want.CreatedAt = time.Date(2025, 1, 2, 3, 4, 6, 6, time.UTC) // first tick of fakeClock
	if diff := cmp.Diff(want, v1); diff != "" {
		t.Errorf("CreateVersion returned (-want +got):\n%s", diff)
	}
	got, err := db.GetVersion(ctx, "fraud", 1)
	if err != nil {
		t.Fatalf("GetVersion: %v", err)
	}
	if diff := cmp.Diff(v1, got); diff != "" {
		t.Errorf("GetVersion differs from what CreateVersion returned (-created +read):\n%s", diff)
	}

	// A minimal version: empty maps come back nil, a given CreatedAt is kept.
	imported := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	min := testVersion("fraud")
	min.Labels = map[string]string{}
	min.CreatedAt = imported
	v2 := mustCreateVersion(t, db, min)
	if v2.Version != 2 || v2.Labels != nil || v2.Signature != nil || !v2.CreatedAt.Equal(imported) || v2.CreatedAt.Location() != time.UTC {
		t.Errorf("second version = %+v; want version 2, nil labels and signature, CreatedAt %v in UTC", v2, imported)
	}

	vs, err := db.ListVersions(ctx, "fraud")
	if err != nil {
		t.Fatalf("ListVersions: %v", err)
	}
	if diff := cmp.Diff([]Version{v1, v2}, vs); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}

	mustCreateVersion(t, db, testVersion("churn"))
	models, err := db.ListModels(ctx)
	if err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	var names []string
	for _, m := range models {
		names = append(names, m.Name)
	}
	if diff := cmp.Diff([]string{"churn", "fraud"}, names); diff != "" {
		t.Errorf("ListModels names (-want +got):\n%s", diff)
	}
	m, err := db.GetModel(ctx, "fraud")
	if err != nil {
		t.Fatalf("GetModel: %v", err)
	}
	wantModel := ModelSummary{
		Name: "fraud", LatestVersion: 2, Versions: 2,
		CreatedAt: v1.CreatedAt, UpdatedAt: v1.CreatedAt.Add(time.Second),
	}
	if diff := cmp.Diff(wantModel, m); diff != "" {
		t.Errorf("GetModel (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantModel, models[1]); diff != "" {
		t.Errorf("ListModels[1] (-want +got):\n%s", diff)
	}
}

func testVersionNumbersPerModel(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	rev0, _ := db.Revision(ctx)
	for i, model := range []string{"a", "b", "a", "a", "b"} {
		v := mustCreateVersion(t, db, testVersion(model))
		want := map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 4: 2}[i]
		if v.Version != want {
			t.Errorf("push %d to %s got version %d; want %d", i, model, v.Version, want)
		}
	}
	// A new version moves "latest", so it must move the serving revision.
	if rev, _ := db.Revision(ctx); rev != rev0+5 {
		t.Errorf("Revision after 5 pushes = %d; want %d", rev, rev0+5)
	}
}

func testConcurrentCreateVersion(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	got := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := db.CreateVersion(ctx, testVersion("race"))
			got[i], errs[i] = v.Version, err
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: CreateVersion: %v", i, errs[i])
		}
		if seen[got[i]] {
			t.Errorf("version %d handed out twice", got[i])
		}
		seen[got[i]] = true
	}
	for v := 1; v <= n; v++ {
		if !seen[v] {
			t.Errorf("version %d missing; got %v", v, got)
		}
	}
	m, err := db.GetModel(ctx, "race")
	if err != nil || m.LatestVersion != n || m.Versions != n {
		t.Errorf("GetModel = %+v, %v; want latest %d and %d versions", m, err, n, n)
	}
}

func testCreateVersionInvalid(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	tests := []struct {
		name   string
		modify func(v *Version)
		want   string // substring of the error
	}{
		{"upper case model", func(v *Version) { v.Model = "Fraud" }, `model name "Fraud": must be lowercase`},
		{"empty model", func(v *Version) { v.Model = "" }, "model name: must not be empty"},
		{"no format", func(v *Version) { v.Format = "" }, "format: must not be empty"},
		{"short digest", func(v *Version) { v.Digest = "abc" }, `digest "abc": must be 64 lowercase hex`},
		{"upper digest", func(v *Version) { v.Digest = strings.ToUpper(testDigest) }, "must be 64 lowercase hex"},
		{"negative size", func(v *Version) { v.Size = -1 }, `size "-1": must not be negative`},
		{"bad signature", func(v *Version) { v.Signature = json.RawMessage(`{"a":`) }, "signature: must be valid JSON"},
		{"NaN metric", func(v *Version) { v.Metrics = map[string]float64{"auc": math.NaN()} }, `metrics["auc"]: must be a finite number`},
		{"NUL in description", func(v *Version) { v.Description = "a\x00b" }, "description: must not contain NUL"},
		{"bad UTF-8 label", func(v *Version) { v.Labels = map[string]string{"k": "\xff"} }, `labels["k"]: must be valid UTF-8`},
		{"empty label key", func(v *Version) { v.Labels = map[string]string{"": "x"} }, "labels: keys must not be empty"},
	}
	for _, tt := range tests {
		v := testVersion("fraud")
		tt.modify(&v)
		_, err := db.CreateVersion(ctx, v)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CreateVersion error = %v; want ErrInvalid containing %q", tt.name, err, tt.want)
		}
	}
	if ms, err := db.ListModels(ctx); err != nil || len(ms) != 0 {
		t.Errorf("ListModels after invalid pushes = %v, %v; want none", ms, err)
	}
}

// testCreateVersionFailureLeavesNothing makes the versions insert fail after
// the model counter moved, and checks the transaction took both back.
func testCreateVersionFailureLeavesNothing(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	r := db.r()
	// A stray version 1 row with the counter still at 0: the next push
	// computes 1 and collides with it.
	if _, err := r.exec(ctx, `INSERT INTO models (name, created_at, updated_at) VALUES ('fraud', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.exec(ctx, `INSERT INTO versions (model, version, format, digest, size, created_at) VALUES ('fraud', 1, 'f', 'd', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	rev0, _ := db.Revision(ctx)
	if _, err := db.CreateVersion(ctx, testVersion("fraud")); err == nil {
		t.Fatal("CreateVersion succeeded despite the colliding row")
	}
	m, err := db.GetModel(ctx, "fraud")
	if err != nil || m.LatestVersion != 0 {
		t.Errorf("after failed push GetModel = %+v, %v; want latest_version still 0", m, err)
	}
	if rev, _ := db.Revision(ctx); rev != rev0 {
		t.Errorf("after failed push Revision = %d; want %d", rev, rev0)
	}
	// Foreign keys are on (the SQLite DSN turns them on): a version cannot
	// belong to a missing model.
	if _, err := r.exec(ctx, `INSERT INTO versions (model, version, format, digest, size, created_at) VALUES ('ghost', 1, 'f', 'd', 0, 0)`); err == nil {
		t.Error("inserted a version of a missing model: foreign keys are off")
	}
}

func testVersionNotFound(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	mustCreateVersion(t, db, testVersion("fraud"))
	checks := []struct {
		name string
		err  error
		want string
	}{
		{"GetVersion missing version", second(db.GetVersion(ctx, "fraud", 7)), `model "fraud" version 7: not found`},
		{"GetVersion missing model", second(db.GetVersion(ctx, "nope", 1)), `model "nope": not found`},
		{"ListVersions missing model", second(db.ListVersions(ctx, "nope")), `model "nope": not found`},
		{"GetModel missing model", second(db.GetModel(ctx, "nope")), `model "nope": not found`},
	}
	for _, c := range checks {
		if !errors.Is(c.err, ErrNotFound) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error = %v; want ErrNotFound saying %q", c.name, c.err, c.want)
		}
	}
	if _, err := db.GetVersion(ctx, "fraud", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("GetVersion(0) error = %v; want ErrInvalid", err)
	}
}

func second[T any](_ T, err error) error { return err }

func testResolveVersion(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	for range 3 {
		mustCreateVersion(t, db, testVersion("fraud"))
	}
	if _, err := db.SetAlias(ctx, "fraud", "production", 2, "alice"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref     string
		want    int
		wantErr error
	}{
		{ref: "1", want: 1},
		{ref: "03", want: 3},
		{ref: "latest", want: 3},
		{ref: "production", want: 2},
		{ref: "staging", wantErr: ErrNotFound},
		{ref: "4", wantErr: ErrNotFound},
		{ref: "0", wantErr: ErrInvalid},
		{ref: "", wantErr: ErrInvalid},
		{ref: "-1", wantErr: ErrInvalid},
		{ref: "Prod", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		v, err := db.ResolveVersion(ctx, "fraud", tt.ref)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ResolveVersion(%q) = %d, %v; want %v", tt.ref, v.Version, err, tt.wantErr)
			}
			continue
		}
		if err != nil || v.Version != tt.want {
			t.Errorf("ResolveVersion(%q) = %d, %v; want %d", tt.ref, v.Version, err, tt.want)
		}
	}
	v, _ := db.ResolveVersion(ctx, "fraud", "production")
	if diff := cmp.Diff([]string{"production"}, v.Aliases); diff != "" {
		t.Errorf("resolved version's Aliases (-want +got):\n%s", diff)
	}
	for _, ref := range []string{"latest", "1", "production"} {
		if _, err := db.ResolveVersion(ctx, "nope", ref); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `model "nope"`) {
			t.Errorf("ResolveVersion(nope, %q) error = %v; want model not found", ref, err)
		}
	}
}

func testModelDescription(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	mustCreateVersion(t, db, testVersion("fraud"))
	if err := db.SetModelDescription(ctx, "fraud", "card fraud scores"); err != nil {
		t.Fatal(err)
	}
	if m, err := db.GetModel(ctx, "fraud"); err != nil || m.Description != "card fraud scores" {
		t.Errorf("GetModel = %+v, %v; want the description", m, err)
	}
	if err := db.SetModelDescription(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetModelDescription(nope) error = %v; want ErrNotFound", err)
	}
}
