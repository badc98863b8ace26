package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

func testTokens(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	db.now = fakeClock()
	ctx := audit.WithActor(context.Background(), "root")
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := db.CreateToken(ctx, Token{ID: "abc", Name: "ci", Role: "deployer", Hash: testDigest, CreatedBy: "root", ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, Token{ID: "abd", Name: "ci", Role: "viewer", Hash: "1" + testDigest[1:]}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("second token named ci: %v, want ErrAlreadyExists", err)
	}
	if _, err := db.CreateToken(ctx, Token{ID: "x", Name: "Bad Name", Role: "viewer", Hash: testDigest}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	got, err := db.TokenByHash(ctx, testDigest)
	if err != nil || got.Name != "ci" || got.Role != "deployer" || !got.ExpiresAt.Equal(exp) || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := db.TokenByHash(ctx, "0"+testDigest[1:]); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	r, err := db.RevokeToken(ctx, "abc")
	if err != nil || r.RevokedAt.IsZero() {
		t.Fatalf("RevokeToken = %+v, %v", r, err)
	}
	if _, err := db.RevokeToken(ctx, "ci"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := db.RevokeToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking unknown: %v", err)
	}
	ts, err := db.ListTokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].RevokedAt.IsZero() {
		t.Errorf("ListTokens = %+v, %v", ts, err)
	}
	if n := len(allEvents(t, db, AuditFilter{Object: "token/ci"})); n != 2 {
		t.Errorf("%d token events, want 2 (create, one revoke)", n)
	}
}

func testBootstrapTokenOnce(t *testing.T, dsn string) {
	// Two nodes starting together on one store: exactly one creates the token.
	a, b := openStore(t, dsn), openStore(t, dsn)
	var wg sync.WaitGroup
	created := make([]bool, 2)
	for i, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := []string{testDigest, "1" + testDigest[1:]}[i]
			ok, err := db.BootstrapToken(context.Background(), Token{ID: h[:8], Name: "admin", Role: "admin", Hash: h})
			if err != nil {
				t.Errorf("BootstrapToken: %v", err)
			}
			created[i] = ok
		}()
	}
	wg.Wait()
	if created[0] == created[1] {
		t.Fatalf("created = %v, want exactly one", created)
	}
	ok, err := a.BootstrapToken(context.Background(), Token{ID: "zz", Name: "admin2", Role: "admin", Hash: "2" + testDigest[1:]})
	if ok || err != nil {
		t.Errorf("third bootstrap = %v, %v; want false, nil", ok, err)
	}
	ts, _ := a.ListTokens(context.Background())
	if len(ts) != 1 {
		t.Errorf("%d tokens, want 1", len(ts))
	}
	evs := allEvents(t, a, AuditFilter{})
	if len(evs) != 1 || evs[0].Actor != audit.System {
		t.Errorf("events = %+v", evs)
	}
}

func testApprovals(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	alice := audit.WithActor(context.Background(), "alice")
	bob := audit.WithActor(context.Background(), "bob")
	a, err := db.CreateApproval(alice, "endpoint/fraud", "promote version 2 to production")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != ApprovalPending || a.Requester != "alice" {
		t.Fatalf("created %+v", a)
	}
	// Two-person rule: alice cannot approve her own request.
	if _, err := db.DecideApproval(alice, a.ID, true, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("self-approval: %v, want ErrForbidden", err)
	}
	if _, err := db.DecideApproval(bob, a.ID, false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("rejection without reason: %v", err)
	}
	got, err := db.DecideApproval(bob, a.ID, true, "checked the canary")
	if err != nil || got.Status != ApprovalApproved || got.DecidedBy != "bob" {
		t.Fatalf("approve = %+v, %v", got, err)
	}
	if _, err := db.DecideApproval(audit.WithActor(context.Background(), "carol"), a.ID, false, "no"); !errors.Is(err, ErrConflict) {
		t.Errorf("deciding twice: %v, want ErrConflict", err)
	}
	r, _ := db.CreateApproval(alice, "endpoint/fraud", "again")
	if got, err := db.DecideApproval(bob, r.ID, false, "error rate too high"); err != nil || got.Status != ApprovalRejected || got.Reason != "error rate too high" {
		t.Errorf("reject = %+v, %v", got, err)
	}
	if _, err := db.GetApproval(alice, "ap-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	pend, _ := db.ListApprovals(alice, ApprovalPending)
	all, _ := db.ListApprovals(alice, "")
	if len(pend) != 0 || len(all) != 2 {
		t.Errorf("pending %d, all %d", len(pend), len(all))
	}
	evs := allEvents(t, db, AuditFilter{Object: "endpoint/fraud"})
	if len(evs) != 4 || evs[1].Action != "approval.approve" || evs[1].Actor != "bob" {
		t.Errorf("approval events = %+v", evs)
	}
}

func testSettings(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := audit.WithActor(context.Background(), "root")
	if _, err := db.GetSetting(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	for _, v := range []string{`1`, `{"a":2}`} {
		if err := db.PutSetting(ctx, "x", json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := db.GetSetting(ctx, "x"); err != nil || string(v) != `{"a":2}` {
		t.Errorf("GetSetting = %s, %v", v, err)
	}
	if err := db.PutSetting(ctx, "x", json.RawMessage(`{`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad JSON: %v", err)
	}
	evs := allEvents(t, db, AuditFilter{Object: "setting/x"})
	if len(evs) != 2 || string(evs[1].Before) != "1" {
		t.Errorf("events = %+v", evs)
	}
}
