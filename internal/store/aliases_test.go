package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var aliasTests = []conformanceTest{
	{"AliasLifecycle", testAliasLifecycle},
	{"AliasErrors", testAliasErrors},
}

func testAliasLifecycle(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.now = fakeClock()
	for range 3 {
		mustCreateVersion(t, db, testVersion("fraud"))
	}
	rev0, _ := db.Revision(ctx)

	set := func(alias string, v int, actor string) AliasChange {
		t.Helper()
		ch, err := db.SetAlias(ctx, "fraud", alias, v, actor)
		if err != nil {
			t.Fatalf("SetAlias(%s, %d): %v", alias, v, err)
		}
		return ch
	}
	prodAt1 := set("production", 1, "alice")
	set("staging", 2, "bob")
	set("production", 2, "carol") // move
	noop := set("production", 2, "dave")
	if noop.ChangedBy != "carol" || noop.Previous != 1 {
		t.Errorf("no-op SetAlias returned %+v; want the earlier change by carol from 1", noop)
	}
	if err := db.DeleteAlias(ctx, "fraud", "staging", "erin"); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	set("canary", 3, "frank")

	// Every change but the no-op moved the serving revision by one.
	if rev, _ := db.Revision(ctx); rev != rev0+5 {
		t.Errorf("Revision = %d; want %d", rev, rev0+5)
	}
	if prodAt1.Revision != rev0+1 || prodAt1.Previous != 0 {
		t.Errorf("first SetAlias = %+v; want revision %d, previous 0", prodAt1, rev0+1)
	}

	hist, err := db.AliasHistory(ctx, "fraud")
	if err != nil {
		t.Fatalf("AliasHistory: %v", err)
	}
	type step struct {
		Alias             string
		Version, Previous int
		By                string
		Revision          int64
	}
	var got []step
	for i, ch := range hist {
		got = append(got, step{ch.Alias, ch.Version, ch.Previous, ch.ChangedBy, ch.Revision})
		if ch.Model != "fraud" || ch.ChangedAt.IsZero() || ch.ChangedAt.Location() != time.UTC {
			t.Errorf("history[%d] = %+v; want model fraud and a UTC time", i, ch)
		}
		if i > 0 && !ch.ChangedAt.After(hist[i-1].ChangedAt) {
			t.Errorf("history[%d] at %v, not after %v", i, ch.ChangedAt, hist[i-1].ChangedAt)
		}
	}
	want := []step{
		{"production", 1, 0, "alice", rev0 + 1},
		{"staging", 2, 0, "bob", rev0 + 2},
		{"production", 2, 1, "carol", rev0 + 3},
		{"staging", 0, 2, "erin", rev0 + 4},
		{"canary", 3, 0, "frank", rev0 + 5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AliasHistory (-want +got):\n%s", diff)
	}

	m, err := db.GetModel(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"production": 2, "canary": 3}, m.Aliases); diff != "" {
		t.Errorf("GetModel aliases (-want +got):\n%s", diff)
	}
	if !m.UpdatedAt.Equal(hist[len(hist)-1].ChangedAt) {
		t.Errorf("model UpdatedAt = %v; want the last alias change %v", m.UpdatedAt, hist[len(hist)-1].ChangedAt)
	}
	set("a-first", 2, "gina") // sorts before "production" byte-wise
	vs, err := db.ListVersions(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	gotAliases := [][]string{vs[0].Aliases, vs[1].Aliases, vs[2].Aliases}
	if diff := cmp.Diff([][]string{nil, {"a-first", "production"}, {"canary"}}, gotAliases); diff != "" {
		t.Errorf("ListVersions aliases (-want +got):\n%s", diff)
	}
}

func testAliasErrors(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	mustCreateVersion(t, db, testVersion("fraud"))
	rev0, _ := db.Revision(ctx)
	tests := []struct {
		name    string
		err     error
		wantIs  error
		wantMsg string
	}{
		{"missing version", second(db.SetAlias(ctx, "fraud", "production", 2, "a")), ErrNotFound, `model "fraud" version 2: not found`},
		{"missing model", second(db.SetAlias(ctx, "nope", "production", 1, "a")), ErrNotFound, `model "nope": not found`},
		{"numeric alias", second(db.SetAlias(ctx, "fraud", "3", 1, "a")), ErrInvalid, `alias "3": must not be a number`},
		{"latest alias", second(db.SetAlias(ctx, "fraud", "latest", 1, "a")), ErrInvalid, `alias "latest": is reserved`},
		{"upper-case alias", second(db.SetAlias(ctx, "fraud", "Prod", 1, "a")), ErrInvalid, `alias "Prod"`},
		{"version zero", second(db.SetAlias(ctx, "fraud", "prod", 0, "a")), ErrInvalid, `version "0"`},
		{"delete missing alias", db.DeleteAlias(ctx, "fraud", "production", "a"), ErrNotFound, `model "fraud" alias "production": not found`},
		{"delete on missing model", db.DeleteAlias(ctx, "nope", "production", "a"), ErrNotFound, `model "nope": not found`},
		{"history of missing model", second(db.AliasHistory(ctx, "nope")), ErrNotFound, `model "nope": not found`},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.wantIs) || !strings.Contains(tt.err.Error(), tt.wantMsg) {
			t.Errorf("%s: error = %v; want %v saying %q", tt.name, tt.err, tt.wantIs, tt.wantMsg)
		}
	}
	if rev, _ := db.Revision(ctx); rev != rev0 {
		t.Errorf("failed alias changes moved the revision from %d to %d", rev0, rev)
	}
	if hist, err := db.AliasHistory(ctx, "fraud"); err != nil || len(hist) != 0 {
		t.Errorf("AliasHistory after failures = %v, %v; want empty", hist, err)
	}
}
