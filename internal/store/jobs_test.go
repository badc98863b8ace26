package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

var jobTests = []conformanceTest{
	{"JobLifecycle", testJobLifecycle},
	{"JobScheduledRunOnce", testJobScheduledRunOnce},
	{"ShardLeaseAndFencing", testShardLeaseAndFencing},
	{"ShardConcurrentClaims", testShardConcurrentClaims},
	{"ShardFailureFailsRun", testShardFailureFailsRun},
}

func testJobLifecycle(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := audit.WithActor(context.Background(), "alice")
	j, created, err := db.PutJob(ctx, Job{Name: "nightly", Spec: spec(`{"input":"a.csv"}`)})
	if err != nil || !created || j.CreatedBy != "alice" {
		t.Fatalf("PutJob = %+v, %v, %v; want created by alice", j, created, err)
	}
	if _, created, err = db.PutJob(ctx, Job{Name: "nightly", Spec: spec(`{"input":"b.csv"}`), Schedule: "0 2 * * *"}); err != nil || created {
		t.Fatalf("second PutJob: created %v, %v; want an update", created, err)
	}
	got, err := db.GetJob(ctx, "nightly")
	if err != nil || string(got.Spec) != `{"input":"b.csv"}` || got.Schedule != "0 2 * * *" {
		t.Fatalf("GetJob = %+v, %v", got, err)
	}
	if _, _, err := db.PutJob(ctx, Job{Name: "Bad Name", Spec: spec(`{}`)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v; want ErrInvalid", err)
	}
	run, err := db.CreateRun(ctx, "nightly", NewRun{Model: "fraud", Version: 3, Ranges: [][2]int64{{0, 10}, {10, 20}}})
	if err != nil || run.ID != "nightly-1" || run.Shards != 2 || run.Status != RunPending {
		t.Fatalf("CreateRun = %+v, %v", run, err)
	}
	if err := db.DeleteJob(ctx, "nightly"); !errors.Is(err, ErrConflict) {
		t.Errorf("DeleteJob with an active run: %v; want ErrConflict", err)
	}
	ids, err := db.CancelRuns(ctx, "nightly")
	if err != nil || len(ids) != 1 || ids[0] != "nightly-1" {
		t.Fatalf("CancelRuns = %v, %v", ids, err)
	}
	if _, _, ok, err := db.ClaimShard(ctx, "w1", time.Minute); err != nil || ok {
		t.Errorf("ClaimShard after cancel: ok %v, %v; want no work", ok, err)
	}
	r, shards, err := db.GetRun(ctx, "nightly-1")
	if err != nil || r.Status != RunCancelled || len(shards) != 2 || shards[1].Status != ShardCancelled {
		t.Fatalf("GetRun = %+v, %+v, %v", r, shards, err)
	}
	ev, err := db.JobEvents(ctx, "nightly-1", 0)
	if err != nil || len(ev) != 2 || ev[1].Message != "run cancelled by alice" {
		t.Errorf("JobEvents = %+v, %v", ev, err)
	}
	if err := db.DeleteJob(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetJob(ctx, "nightly"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetJob after delete: %v", err)
	}
	var actions []string
	db.AuditEvents(ctx, AuditFilter{Object: "job/nightly"}, func(e audit.Event) error { actions = append(actions, e.Action); return nil })
	want := []string{"job.create", "job.update", "job.run", "job.cancel", "job.delete"}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("audit actions = %v; want %v", actions, want)
	}
}

func testJobScheduledRunOnce(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	due := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	if _, _, err := db.PutJob(ctx, Job{Name: "nightly", Spec: spec(`{}`), Schedule: "0 2 * * *", NextRunAt: due}); err != nil {
		t.Fatal(err)
	}
	jobs, err := db.DueJobs(ctx, due.Add(time.Second))
	if err != nil || len(jobs) != 1 {
		t.Fatalf("DueJobs = %v, %v", jobs, err)
	}
	// Two schedulers start the same due run: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = db.CreateRun(ctx, "nightly", NewRun{Ranges: [][2]int64{{0, 0}}, Scheduled: true, IfNextRunAt: due, NextRunAt: due.Add(24 * time.Hour)})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], ErrConflict) || errors.Is(errs[1], ErrConflict)) {
		t.Fatalf("two schedulers: %v, %v; want one run and one ErrConflict", errs[0], errs[1])
	}
	if jobs, _ := db.DueJobs(ctx, due.Add(time.Second)); len(jobs) != 0 {
		t.Errorf("still due after the run: %v", jobs)
	}
	if runs, _ := db.ListRuns(ctx, "nightly", 0); len(runs) != 1 {
		t.Errorf("runs = %d; want 1", len(runs))
	}
}

func testShardLeaseAndFencing(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	var now time.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	db.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	db.PutJob(ctx, Job{Name: "j", Spec: spec(`{}`)})
	if _, err := db.CreateRun(ctx, "j", NewRun{Model: "m", Version: 1, Ranges: [][2]int64{{0, 5}}}); err != nil {
		t.Fatal(err)
	}
	a, run, ok, err := db.ClaimShard(ctx, "a", time.Minute)
	if err != nil || !ok || a.Attempt != 1 || run.Status != RunRunning {
		t.Fatalf("first claim = %+v, %+v, %v, %v", a, run, ok, err)
	}
	if _, _, ok, _ := db.ClaimShard(ctx, "b", time.Minute); ok {
		t.Fatal("a held shard was claimed again")
	}
	advance(30 * time.Second)
	if err := db.Heartbeat(ctx, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	advance(45 * time.Second) // within the renewed lease
	if _, _, ok, _ := db.ClaimShard(ctx, "b", time.Minute); ok {
		t.Fatal("a renewed shard was claimed again")
	}
	advance(time.Minute) // a dies: its lease runs out
	b, _, ok, err := db.ClaimShard(ctx, "b", time.Minute)
	if err != nil || !ok || b.Attempt != 2 || b.Worker != "b" {
		t.Fatalf("reclaim = %+v, %v, %v", b, ok, err)
	}
	if err := db.Heartbeat(ctx, a, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old worker heartbeat: %v; want ErrLeaseLost", err)
	}
	if _, err := db.CompleteShard(ctx, a, ShardResult{RowsIn: 5}, nil); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old worker complete: %v; want ErrLeaseLost", err)
	}
	done, err := db.CompleteShard(ctx, b, ShardResult{RowsIn: 5, RowsOut: 4, Rejected: 1, Output: "part-00000"}, func([]Shard) json.RawMessage { return json.RawMessage(`{"drifted":false}`) })
	if err != nil || !done {
		t.Fatalf("complete = %v, %v", done, err)
	}
	r, _, _ := db.GetRun(ctx, run.ID)
	if r.Status != RunSucceeded || r.RowsIn != 5 || r.RowsOut != 4 || r.Rejected != 1 || string(r.Drift) != `{"drifted":false}` {
		t.Errorf("run = %+v", r)
	}
}

func testShardConcurrentClaims(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.PutJob(ctx, Job{Name: "j", Spec: spec(`{}`)})
	const n = 20
	ranges := make([][2]int64, n)
	for i := range ranges {
		ranges[i] = [2]int64{int64(i), int64(i + 1)}
	}
	if _, err := db.CreateRun(ctx, "j", NewRun{Ranges: ranges}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	claimed := map[int]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				sh, _, ok, err := db.ClaimShard(ctx, fmt.Sprint("w", w), time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if prev, dup := claimed[sh.Index]; dup {
					t.Errorf("shard %d claimed by %s and w%d", sh.Index, prev, w)
				}
				claimed[sh.Index] = sh.Worker
				mu.Unlock()
				if _, err := db.CompleteShard(ctx, sh, ShardResult{RowsIn: 1, RowsOut: 1}, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("%d shards claimed; want %d", len(claimed), n)
	}
	runs, _ := db.ListRuns(ctx, "j", 1)
	if runs[0].Status != RunSucceeded || runs[0].RowsIn != n {
		t.Errorf("run = %+v", runs[0])
	}
}

func testShardFailureFailsRun(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.PutJob(ctx, Job{Name: "j", Spec: spec(`{}`)})
	db.CreateRun(ctx, "j", NewRun{Ranges: [][2]int64{{0, 1}, {1, 2}}})
	sh, _, _, _ := db.ClaimShard(ctx, "w", time.Hour)
	other, _, _, _ := db.ClaimShard(ctx, "v", time.Hour)
	if done, err := db.CompleteShard(ctx, sh, ShardResult{Error: "too many rejected rows"}, nil); err != nil || !done {
		t.Fatalf("complete failed shard: %v, %v", done, err)
	}
	if err := db.Heartbeat(ctx, other, time.Hour); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("heartbeat of a shard of a failed run: %v; want ErrLeaseLost", err)
	}
	r, _, _ := db.GetRun(ctx, sh.Run)
	if r.Status != RunFailed || r.Error != "shard 0: too many rejected rows" {
		t.Errorf("run = %+v", r)
	}
}
