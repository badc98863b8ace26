package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var rolloutTests = []conformanceTest{
	{"RolloutLifecycle", testRolloutLifecycle},
	{"RolloutWriteWithEndpoint", testRolloutWriteWithEndpoint},
	{"RolloutConcurrentWriters", testRolloutConcurrentWriters},
	{"VersionChecks", testVersionChecks},
}

func testRolloutLifecycle(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.now = fakeClock()
	ro, err := db.CreateRollout(ctx, Rollout{Name: "fraud-v2", Endpoint: "fraud", Spec: spec(`{"candidate":"2"}`),
		Status: spec(`{"phase":"Pending"}`), Phase: "Pending", CreatedBy: "ci"},
		[]RolloutEvent{{Kind: "created", Message: "created"}})
	if err != nil {
		t.Fatalf("CreateRollout: %v", err)
	}
	if ro.Generation != 1 {
		t.Errorf("generation = %d, want 1", ro.Generation)
	}
	if _, err := db.CreateRollout(ctx, Rollout{Name: "fraud-v2", Endpoint: "fraud", Spec: spec(`{}`), Status: spec(`{}`)}, nil); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("second CreateRollout error = %v, want ErrAlreadyExists", err)
	}
	if _, err := db.CreateRollout(ctx, Rollout{Name: "bad name!", Endpoint: "fraud", Spec: spec(`{}`), Status: spec(`{}`)}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateRollout with a bad name error = %v, want ErrInvalid", err)
	}
	got, _, err := db.WriteRollout(ctx, "fraud-v2", RolloutWrite{Generation: 1, Status: spec(`{"phase":"Progressing","step":1}`), Phase: "Progressing",
		Events: []RolloutEvent{{Kind: "step", Message: "step 1", Data: spec(`{"weight":5}`), Actor: "controller"}}})
	if err != nil {
		t.Fatalf("WriteRollout: %v", err)
	}
	if got.Generation != 2 || got.Phase != "Progressing" || string(got.Spec) != `{"candidate":"2"}` {
		t.Errorf("after write: %+v", got)
	}
	if _, _, err := db.WriteRollout(ctx, "fraud-v2", RolloutWrite{Generation: 1, Status: spec(`{}`), Phase: "X"}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale WriteRollout error = %v, want ErrConflict", err)
	}
	if _, _, err := db.WriteRollout(ctx, "nope", RolloutWrite{Generation: 1, Status: spec(`{}`)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("WriteRollout of a missing rollout error = %v, want ErrNotFound", err)
	}
	evs, err := db.RolloutEvents(ctx, "fraud-v2", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 || evs[1].Actor != "controller" || string(evs[1].Data) != `{"weight":5}` {
		t.Errorf("events = %+v", evs)
	}
	if evs, _ := db.RolloutEvents(ctx, "fraud-v2", 1); len(evs) != 1 || evs[0].Kind != "step" {
		t.Errorf("events after 1 = %+v", evs)
	}
	if _, err := db.CreateRollout(ctx, Rollout{Name: "other", Endpoint: "churn", Spec: spec(`{}`), Status: spec(`{}`), Phase: "Pending"}, nil); err != nil {
		t.Fatal(err)
	}
	all, _ := db.ListRollouts(ctx, "")
	mine, _ := db.ListRollouts(ctx, "fraud")
	if len(all) != 2 || len(mine) != 1 || mine[0].Name != "fraud-v2" {
		t.Errorf("ListRollouts: all %d, fraud %v", len(all), mine)
	}
	if err := db.DeleteRollout(ctx, "fraud-v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRollout(ctx, "fraud-v2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRollout after delete error = %v", err)
	}
	if evs, _ := db.RolloutEvents(ctx, "fraud-v2", 0); len(evs) != 0 {
		t.Errorf("events survive delete: %v", evs)
	}
	// A status refresh in the same phase is not audited; creation, a new
	// phase and deletion are.
	if _, _, err := db.WriteRollout(ctx, "other", RolloutWrite{Generation: 1, Status: spec(`{"phase":"Pending","message":"tick"}`), Phase: "Pending"}); err != nil {
		t.Fatal(err)
	}
	var got2 []string
	for _, e := range allEvents(t, db, AuditFilter{Object: "rollout"}) {
		got2 = append(got2, e.Action+" "+e.Object)
	}
	want := "rollout.create rollout/fraud-v2,rollout.update rollout/fraud-v2,rollout.create rollout/other,rollout.delete rollout/fraud-v2"
	if strings.Join(got2, ",") != want {
		t.Errorf("audit events = %s\nwant %s", strings.Join(got2, ","), want)
	}
	mustVerify(t, db)
}

// A transition that changes the endpoint commits both or neither.
func testRolloutWriteWithEndpoint(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateEndpoint(ctx, "fraud", spec(`{"model":"fraud","version":"1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateRollout(ctx, Rollout{Name: "r", Endpoint: "fraud", Spec: spec(`{}`), Status: spec(`{"step":0}`), Phase: "Pending"}, nil); err != nil {
		t.Fatal(err)
	}
	rev0, _ := db.Revision(ctx)
	ro, ep, err := db.WriteRollout(ctx, "r", RolloutWrite{Generation: 1, Status: spec(`{"step":1}`), Phase: "Progressing",
		Endpoint: set(`{"model":"fraud","traffic":{"split":[{"version":1,"weight":95},{"version":2,"weight":5}]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Revision != 2 || ro.Generation != 2 {
		t.Errorf("endpoint revision %d, rollout generation %d", ep.Revision, ro.Generation)
	}
	if rev, _ := db.Revision(ctx); rev <= rev0 {
		t.Errorf("serving revision did not move: %d -> %d", rev0, rev)
	}
	boom := errors.New("boom")
	_, _, err = db.WriteRollout(ctx, "r", RolloutWrite{Generation: 2, Status: spec(`{"step":2}`), Phase: "Progressing",
		Endpoint: func(Endpoint) (json.RawMessage, error) { return nil, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
	cur, _ := db.GetRollout(ctx, "r")
	if cur.Generation != 2 || string(cur.Status) != `{"step":1}` {
		t.Errorf("a failed endpoint change wrote the rollout: %+v", cur)
	}
	// An invalid endpoint spec rolls back the rollout write too.
	_, _, err = db.WriteRollout(ctx, "r", RolloutWrite{Generation: 2, Status: spec(`{"step":2}`), Phase: "Progressing", Endpoint: set(`not json`)})
	if err == nil || !strings.Contains(err.Error(), "endpoint spec") {
		t.Fatalf("error = %v", err)
	}
	if cur, _ := db.GetRollout(ctx, "r"); cur.Generation != 2 {
		t.Errorf("rollout written despite a bad endpoint spec")
	}
}

// Of many writers reading the same generation, exactly one wins.
func testRolloutConcurrentWriters(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateRollout(ctx, Rollout{Name: "r", Endpoint: "e", Spec: spec(`{}`), Status: spec(`{}`), Phase: "Pending"}, nil); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := db.WriteRollout(ctx, "r", RolloutWrite{Generation: 1, Status: spec(`{}`), Phase: "Progressing",
				Events: []RolloutEvent{{Kind: "step", Message: "x"}}})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("WriteRollout: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Errorf("wins %d, conflicts %d; want 1 and 7", wins.Load(), conflicts.Load())
	}
	if evs, _ := db.RolloutEvents(ctx, "r", 0); len(evs) != 1 {
		t.Errorf("%d events, want 1", len(evs))
	}
}

func testVersionChecks(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if _, err := db.CreateVersion(ctx, testVersion("fraud")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddVersionCheck(ctx, VersionCheck{Model: "fraud", Version: 2, Source: "x", Results: spec(`[]`)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("check of a missing version: %v", err)
	}
	for i, passed := range []bool{false, true} {
		c, err := db.AddVersionCheck(ctx, VersionCheck{Model: "fraud", Version: 1, Source: "rollout r", Passed: passed, Results: spec(`[{"gate":"holdout"}]`)})
		if err != nil || c.Seq != int64(i+1) {
			t.Fatalf("AddVersionCheck = %+v, %v", c, err)
		}
	}
	cs, err := db.VersionChecks(ctx, "fraud", 1)
	if err != nil || len(cs) != 2 || cs[0].Passed || !cs[1].Passed || string(cs[1].Results) != `[{"gate":"holdout"}]` {
		t.Errorf("VersionChecks = %+v, %v", cs, err)
	}
}
