package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/audit"
)

var auditTests = []conformanceTest{
	{"AuditEveryChange", testAuditEveryChange},
	{"AuditRollsBackWithChange", testAuditRollsBackWithChange},
	{"AuditConcurrentAppends", testAuditConcurrentAppends},
	{"AuditTamper", testAuditTamper},
	{"AuditFilter", testAuditFilter},
	{"Tokens", testTokens},
	{"BootstrapTokenOnce", testBootstrapTokenOnce},
	{"Approvals", testApprovals},
	{"Settings", testSettings},
}

func allEvents(t *testing.T, db *DB, f AuditFilter) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := db.AuditEvents(context.Background(), f, func(e audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	return out
}

func mustVerify(t *testing.T, db *DB) audit.Report {
	t.Helper()
	rep, err := db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	if rep.Problem != nil {
		t.Fatalf("VerifyAudit: %v", rep.Problem)
	}
	return rep
}

// makeChanges performs one of each store change, as alice.
func makeChanges(t *testing.T, db *DB) {
	t.Helper()
	ctx := audit.WithActor(context.Background(), "alice")
	if _, err := db.CreateVersion(ctx, testVersion("fraud")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateVersion(ctx, testVersion("fraud")); err != nil {
		t.Fatal(err)
	}
	if err := db.SetModelDescription(ctx, "fraud", "trees"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetAlias(ctx, "fraud", "production", 1, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetAlias(ctx, "fraud", "production", 2, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAlias(ctx, "fraud", "production", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateEndpoint(ctx, "fraud", json.RawMessage(`{"model":"fraud","version":"1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReplaceEndpoint(ctx, "fraud", 0, json.RawMessage(`{"model":"fraud","version":"2"}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteEndpoint(ctx, "fraud"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, Token{ID: "t1", Name: "ci", Role: "deployer", Hash: testDigest}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting(ctx, "retention", json.RawMessage(`{"days":30}`)); err != nil {
		t.Fatal(err)
	}
	a, err := db.CreateApproval(ctx, "endpoint/fraud", "promote 2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DecideApproval(audit.WithActor(ctx, "bob"), a.ID, true, "looks good"); err != nil {
		t.Fatal(err)
	}
}

func testAuditEveryChange(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	makeChanges(t, db)
	var got []string
	for _, e := range allEvents(t, db, AuditFilter{}) {
		got = append(got, fmt.Sprintf("%d %s %s %s", e.Seq, e.Actor, e.Action, e.Object))
	}
	want := []string{
		"1 alice model.push model/fraud@1",
		"2 alice model.push model/fraud@2",
		"3 alice model.describe model/fraud",
		"4 alice alias.set model/fraud/alias/production",
		"5 alice alias.set model/fraud/alias/production",
		"6 alice alias.delete model/fraud/alias/production",
		"7 alice endpoint.create endpoint/fraud",
		"8 alice endpoint.update endpoint/fraud",
		"9 alice endpoint.delete endpoint/fraud",
		"10 alice token.create token/ci",
		"11 alice token.revoke token/ci",
		"12 alice setting.put setting/retention",
		"13 alice approval.request endpoint/fraud",
		"14 bob approval.approve endpoint/fraud",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	evs := allEvents(t, db, AuditFilter{})
	if string(evs[4].Before) != `{"version":1}` || string(evs[4].After) != `{"version":2}` {
		t.Errorf("alias move before/after = %s/%s", evs[4].Before, evs[4].After)
	}
	if string(evs[7].Before) != `{"model":"fraud","version":"1"}` || string(evs[7].After) != `{"model":"fraud","version":"2"}` {
		t.Errorf("endpoint update before/after = %s/%s", evs[7].Before, evs[7].After)
	}
	if strings.Contains(string(evs[9].After), testDigest) {
		t.Errorf("token event records the token hash: %s", evs[9].After)
	}
	rep := mustVerify(t, db)
	if rep.Events != 14 || rep.Head.Seq != 14 {
		t.Errorf("verify = %+v, want 14 events", rep)
	}
}

func testAuditRollsBackWithChange(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	mustCreateVersion(t, db, testVersion("fraud"))
	// A failed change leaves no event: the version does not exist.
	if _, err := db.SetAlias(ctx, "fraud", "production", 9, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAlias to a missing version: %v", err)
	}
	// An event that cannot be written fails the change: break the head.
	if _, err := db.sql.Exec(`DROP TABLE audit_head`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateVersion(ctx, testVersion("fraud")); err == nil {
		t.Fatal("CreateVersion succeeded without its audit event")
	}
	vs, err := db.ListVersions(ctx, "fraud")
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after failed push = %d, %v; want 1", len(vs), err)
	}
	if n := len(allEvents(t, db, AuditFilter{})); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

func testAuditConcurrentAppends(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := audit.WithActor(context.Background(), fmt.Sprintf("u%d", i))
			for range 3 {
				if _, err := db.CreateVersion(ctx, testVersion(fmt.Sprintf("m%d", i%3))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rep := mustVerify(t, db); rep.Events != 24 {
		t.Errorf("%d events, want 24", rep.Events)
	}
}

// testAuditTamper edits, deletes, inserts and reorders events directly in
// the database and checks that verification names the first bad number.
func testAuditTamper(t *testing.T, dsn string) {
	tests := []struct {
		name    string
		sql     []string
		wantSeq int64
		want    string
	}{
		{"edit actor", []string{`UPDATE audit_events SET actor = 'mallory' WHERE seq = 5`}, 5, "edited"},
		{"edit after", []string{`UPDATE audit_events SET after = '{"version":9}' WHERE seq = 4`}, 4, "edited"},
		{"edit and rehash one", nil, 6, "re-hashed"}, // filled below: a recomputed hash breaks the next link
		{"delete middle", []string{`DELETE FROM audit_events WHERE seq = 6`}, 6, "missing"},
		{"delete last", []string{`DELETE FROM audit_events WHERE seq = 14`}, 14, "deleted from the end"},
		{"delete first", []string{`DELETE FROM audit_events WHERE seq = 1`}, 1, "missing"},
		{"insert shifted", []string{
			`UPDATE audit_events SET seq = seq + 100 WHERE seq >= 8`,
			`UPDATE audit_events SET seq = seq - 99 WHERE seq >= 108`,
			`INSERT INTO audit_events (seq, at, actor, action, object, before, after, prev_hash, hash)
			  SELECT 8, at, 'mallory', 'endpoint.create', 'endpoint/evil', '', '{}', hash, 'x' FROM audit_events WHERE seq = 7`,
		}, 8, "edited"},
		{"append", []string{`INSERT INTO audit_events (seq, at, actor, action, object, before, after, prev_hash, hash)
			  SELECT 15, at, 'mallory', 'token.create', 'token/evil', '', '{}', hash, hash FROM audit_events WHERE seq = 14`}, 15, "edited"},
		{"reorder", []string{
			`UPDATE audit_events SET seq = 1000 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = 1000`,
		}, 3, "edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := sqliteDSN
			if strings.HasPrefix(dsn, "postgres") {
				fresh = postgresDSN
			}
			db := openStore(t, fresh(t))
			makeChanges(t, db)
			mustVerify(t, db)
			stmts := tt.sql
			if stmts == nil {
				// Rewrite event 6 with a correct hash of its new contents:
				// the edit is consistent in itself, event 7 points at the old hash.
				evs := allEvents(t, db, AuditFilter{})
				e := evs[5]
				e.Actor = "mallory"
				e.Hash = audit.Hash(e)
				stmts = []string{fmt.Sprintf(`UPDATE audit_events SET actor = 'mallory', hash = '%s' WHERE seq = 6`, e.Hash)}
			}
			for _, s := range stmts {
				if _, err := db.sql.Exec(s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			rep, err := db.VerifyAudit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Problem == nil {
				t.Fatalf("tampered chain verifies: %+v", rep)
			}
			if rep.Problem.Seq != tt.wantSeq || !strings.Contains(rep.Problem.Reason, tt.want) {
				t.Errorf("problem = %d %q; want %d and %q", rep.Problem.Seq, rep.Problem.Reason, tt.wantSeq, tt.want)
			}
		})
	}
}

func testAuditFilter(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	makeChanges(t, db)
	evs := allEvents(t, db, AuditFilter{Object: "model/fraud"})
	if len(evs) != 6 {
		t.Errorf("model/fraud: %d events, want 6", len(evs))
	}
	evs = allEvents(t, db, AuditFilter{Object: "model/fraud/alias/production"})
	if len(evs) != 3 {
		t.Errorf("alias: %d events, want 3", len(evs))
	}
	evs = allEvents(t, db, AuditFilter{Object: "model/fra"})
	if len(evs) != 0 {
		t.Errorf("prefix of a name matched %d events", len(evs))
	}
	all := allEvents(t, db, AuditFilter{})
	evs = allEvents(t, db, AuditFilter{Since: all[10].Time})
	if len(evs) != 4 || evs[0].Seq != 11 {
		t.Errorf("since event 11: %d events from %d", len(evs), evs[0].Seq)
	}
	evs = allEvents(t, db, AuditFilter{AfterSeq: 12, Limit: 1})
	if len(evs) != 1 || evs[0].Seq != 13 {
		t.Errorf("after 12 limit 1 = %+v", evs)
	}
}
