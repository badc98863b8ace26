package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/audit"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var endpointTests = []conformanceTest{
	{"EndpointLifecycle", testEndpointLifecycle},
	{"EndpointErrors", testEndpointErrors},
	{"UpdateEndpointFailureKeepsState", testUpdateEndpointFailureKeepsState},
	{"UpdateEndpointNoChange", testUpdateEndpointNoChange},
	{"ReplaceEndpointConflict", testReplaceEndpointConflict},
	{"ConcurrentUpdateEndpoint", testConcurrentUpdateEndpoint},
}

func spec(s string) json.RawMessage { return json.RawMessage(s) }

// set returns an UpdateEndpoint function that stores s.
func set(s string) func(Endpoint) (json.RawMessage, error) {
	return func(Endpoint) (json.RawMessage, error) { return spec(s), nil }
}

func testEndpointLifecycle(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.now = fakeClock()
	rev0, _ := db.Revision(ctx)

	created, err := db.CreateEndpoint(ctx, "fraud", spec(`{"model":"fraud","version":"production"}`))
	if err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	if created.Revision != 1 || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Errorf("created = %+v; want revision 1 with CreatedAt == UpdatedAt", created)
	}
	if _, err := db.CreateEndpoint(ctx, "churn", spec(`{"model":"churn"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetEndpoint(ctx, "fraud")
	if err != nil {
		t.Fatalf("GetEndpoint: %v", err)
	}
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GetEndpoint (-created +got):\n%s", diff)
	}

	var sawRevision int64
	updated, err := db.UpdateEndpoint(audit.WithActor(ctx, "alice"), "fraud", func(cur Endpoint) (json.RawMessage, error) {
		sawRevision = cur.Revision
		return spec(`{"model":"fraud","version":"3"}`), nil
	})
	if err != nil {
		t.Fatalf("UpdateEndpoint: %v", err)
	}
	if sawRevision != 1 || updated.Revision != 2 || !updated.CreatedAt.Equal(created.CreatedAt) || !updated.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("fn saw revision %d, update returned %+v; want 1, then revision 2 with the original CreatedAt and a later UpdatedAt", sawRevision, updated)
	}

	list, err := db.ListEndpoints(ctx)
	if err != nil {
		t.Fatalf("ListEndpoints: %v", err)
	}
	if len(list) != 2 || list[0].Name != "churn" || list[1].Name != "fraud" || list[1].Revision != 2 {
		t.Errorf("ListEndpoints = %+v; want churn, then fraud at revision 2", list)
	}

	if err := db.DeleteEndpoint(ctx, "fraud"); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	if _, err := db.GetEndpoint(ctx, "fraud"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetEndpoint after delete error = %v; want ErrNotFound", err)
	}
	// Re-creating continues the numbering.
	again, err := db.CreateEndpoint(ctx, "fraud", spec(`{"model":"fraud","version":"1"}`))
	if err != nil || again.Revision != 4 {
		t.Errorf("re-create = %+v, %v; want revision 4", again, err)
	}

	hist, err := db.EndpointHistory(ctx, "fraud")
	if err != nil {
		t.Fatalf("EndpointHistory: %v", err)
	}
	type entry struct {
		Revision int64
		Spec     string
		Deleted  bool
		By       string
	}
	var gotHist []entry
	for _, h := range hist {
		gotHist = append(gotHist, entry{h.Revision, string(h.Spec), h.Deleted, h.ChangedBy})
	}
	wantHist := []entry{
		{1, `{"model":"fraud","version":"production"}`, false, audit.System},
		{2, `{"model":"fraud","version":"3"}`, false, "alice"},
		{3, `{"model":"fraud","version":"3"}`, true, audit.System},
		{4, `{"model":"fraud","version":"1"}`, false, audit.System},
	}
	if diff := cmp.Diff(wantHist, gotHist); diff != "" {
		t.Errorf("EndpointHistory (-want +got):\n%s", diff)
	}
	created.ChangedBy = audit.System
	if diff := cmp.Diff(created, hist[0]); diff != "" {
		t.Errorf("history[0] differs from the created endpoint (-created +history):\n%s", diff)
	}
	updated.ChangedBy = "alice"
	if diff := cmp.Diff(updated, hist[1]); diff != "" {
		t.Errorf("history[1] differs from the updated endpoint (-updated +history):\n%s", diff)
	}
	// create, create, update, delete, create.
	if rev, _ := db.Revision(ctx); rev != rev0+5 {
		t.Errorf("Revision = %d; want %d", rev, rev0+5)
	}
}

func testEndpointErrors(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateEndpoint(ctx, "fraud", spec(`{}`)); err != nil {
		t.Fatal(err)
	}
	rev0, _ := db.Revision(ctx)
	tests := []struct {
		name    string
		err     error
		wantIs  error
		wantMsg string
	}{
		{"duplicate", second(db.CreateEndpoint(ctx, "fraud", spec(`{}`))), ErrAlreadyExists, `endpoint "fraud": already exists`},
		{"bad name", second(db.CreateEndpoint(ctx, "Foo Bar", spec(`{}`))), ErrInvalid,
			`endpoint name "Foo Bar": must be lowercase letters, digits, '.', '_' or '-'`},
		{"leading dash", second(db.CreateEndpoint(ctx, "-x", spec(`{}`))), ErrInvalid, `endpoint name "-x": must start and end`},
		{"long name", second(db.CreateEndpoint(ctx, strings.Repeat("a", 64), spec(`{}`))), ErrInvalid, "must be at most 63 characters"},
		{"empty spec", second(db.CreateEndpoint(ctx, "x", nil)), ErrInvalid, "endpoint spec: must not be empty"},
		{"bad spec", second(db.CreateEndpoint(ctx, "x", spec(`{"a"`))), ErrInvalid, "endpoint spec: must be valid JSON"},
		{"get missing", second(db.GetEndpoint(ctx, "nope")), ErrNotFound, `endpoint "nope": not found`},
		{"update missing", second(db.UpdateEndpoint(ctx, "nope", set(`{}`))), ErrNotFound, `endpoint "nope": not found`},
		{"delete missing", db.DeleteEndpoint(ctx, "nope"), ErrNotFound, `endpoint "nope": not found`},
		{"history missing", second(db.EndpointHistory(ctx, "nope")), ErrNotFound, `endpoint "nope": not found`},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.wantIs) || !strings.Contains(tt.err.Error(), tt.wantMsg) {
			t.Errorf("%s: error = %v; want %v saying %q", tt.name, tt.err, tt.wantIs, tt.wantMsg)
		}
	}
	if rev, _ := db.Revision(ctx); rev != rev0 {
		t.Errorf("failed endpoint changes moved the revision from %d to %d", rev0, rev)
	}
}

// testUpdateEndpointFailureKeepsState checks that an update aborted by fn or
// by an invalid spec leaves the spec, revision, history and serving
// revision as they were.
func testUpdateEndpointFailureKeepsState(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	before, err := db.CreateEndpoint(ctx, "fraud", spec(`{"weight":10}`))
	if err != nil {
		t.Fatal(err)
	}
	rev0, _ := db.Revision(ctx)
	errRefused := errors.New("policy refused")
	_, err = db.UpdateEndpoint(ctx, "fraud", func(cur Endpoint) (json.RawMessage, error) {
		cur.Spec[1] = 'X' // scribbling on the copy must not leak either
		return nil, errRefused
	})
	if err != errRefused {
		t.Errorf("UpdateEndpoint error = %v; want fn's error unchanged", err)
	}
	if _, err := db.UpdateEndpoint(ctx, "fraud", set(`{"weight":`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateEndpoint with invalid JSON error = %v; want ErrInvalid", err)
	}
	after, err := db.GetEndpoint(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("endpoint changed by failed updates (-before +after):\n%s", diff)
	}
	if hist, _ := db.EndpointHistory(ctx, "fraud"); len(hist) != 1 {
		t.Errorf("history has %d entries; want 1", len(hist))
	}
	if rev, _ := db.Revision(ctx); rev != rev0 {
		t.Errorf("Revision = %d; want %d", rev, rev0)
	}
}

func testUpdateEndpointNoChange(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	before, err := db.CreateEndpoint(ctx, "fraud", spec(`{"a": 1, "b": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	rev0, _ := db.Revision(ctx)
	got, err := db.UpdateEndpoint(ctx, "fraud", set(`{"a":1,"b":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, got); diff != "" {
		t.Errorf("same-spec update changed the endpoint (-before +after):\n%s", diff)
	}
	if rev, _ := db.Revision(ctx); rev != rev0 {
		t.Errorf("same-spec update moved the revision to %d; want %d", rev, rev0)
	}
}

func testReplaceEndpointConflict(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateEndpoint(ctx, "fraud", spec(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	ep, err := db.ReplaceEndpoint(ctx, "fraud", 1, spec(`{"v":2}`))
	if err != nil || ep.Revision != 2 {
		t.Fatalf("ReplaceEndpoint at the current revision = %+v, %v; want revision 2", ep, err)
	}
	_, err = db.ReplaceEndpoint(ctx, "fraud", 1, spec(`{"v":3}`))
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "revision 2, not 1") {
		t.Errorf("ReplaceEndpoint with a stale revision error = %v; want ErrConflict", err)
	}
	if ep, err := db.ReplaceEndpoint(ctx, "fraud", 0, spec(`{"v":4}`)); err != nil || ep.Revision != 3 {
		t.Errorf("unconditional ReplaceEndpoint = %+v, %v; want revision 3", ep, err)
	}
}

// testConcurrentUpdateEndpoint runs read-modify-write updates at once; with
// the row lock (or SQLite's single writer) none is lost.
func testConcurrentUpdateEndpoint(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateEndpoint(ctx, "counter", spec(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.UpdateEndpoint(ctx, "counter", func(cur Endpoint) (json.RawMessage, error) {
				var s struct{ N int }
				if err := json.Unmarshal(cur.Spec, &s); err != nil {
					return nil, err
				}
				return spec(fmt.Sprintf(`{"n":%d}`, s.N+1)), nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateEndpoint: %v", err)
		}
	}
	ep, err := db.GetEndpoint(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(ep.Spec) != fmt.Sprintf(`{"n":%d}`, n) || ep.Revision != n+1 {
		t.Errorf("after %d concurrent increments: spec %s, revision %d; want n=%d at revision %d", n, ep.Spec, ep.Revision, n, n+1)
	}
}
