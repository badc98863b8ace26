package jobs

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/batch"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
)

const fixtures = "../../examples/xgboost"

// newService returns a Service over a fresh SQLite store holding the
// breast_cancer model as bc@1.
func newService(t *testing.T, opts Options) *Service {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, blobs, inference.NewFormats(xgboost.Format{}), registry.Options{})
	model, _ := os.ReadFile(filepath.Join(fixtures, "breast_cancer.json"))
	if _, err := reg.Push(ctx, registry.PushRequest{Model: "bc", Artifact: model}); err != nil {
		t.Fatal(err)
	}
	opts.Poll, opts.Lease = 20*time.Millisecond, 3*time.Second
	return New(reg, opts)
}

// withID writes the fixture with an id column.
func withID(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(fixtures, "breast_cancer.csv"))
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	var sb strings.Builder
	sb.WriteString("id," + ls[0] + "\n")
	for i, l := range ls[1:] {
		sb.WriteString(strconv.Itoa(i) + "," + l + "\n")
	}
	p := filepath.Join(t.TempDir(), "in.csv")
	os.WriteFile(p, []byte(sb.String()), 0o644)
	return p
}

// fixtureBaseline builds a drift baseline from the training rows.
type fixtureBaseline struct{ b *drift.Baseline }

func (f fixtureBaseline) Baseline(ctx context.Context, model string, version int) (*drift.Baseline, error) {
	return f.b, nil
}

func buildBaseline(t *testing.T) *drift.Baseline {
	f, _ := os.Open(filepath.Join(fixtures, "breast_cancer.csv"))
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var s drift.Sample
	for j, name := range recs[0] {
		c := drift.Column{Name: name, Kind: drift.Numeric}
		for _, r := range recs[1:] {
			v, _ := strconv.ParseFloat(r[j], 64)
			c.Num = append(c.Num, v)
		}
		s.Columns = append(s.Columns, c)
	}
	b, err := drift.BuildBaseline(s, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitRun runs the worker until the run ends and returns it.
func waitRun(t *testing.T, s *Service, id string) (store.JobRun, []store.Shard) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, shards, err := s.db.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RunPending && r.Status != store.RunRunning {
			return r, shards
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not finish in 30s", id)
	return store.JobRun{}, nil
}

func TestShardedRunWritesEveryRowOnce(t *testing.T) {
	s := newService(t, Options{Baselines: fixtureBaseline{buildBaseline(t)}})
	out := t.TempDir()
	d := Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "score"},
		Spec: Spec{Model: "bc@latest", Input: withID(t), Output: out, OutputFormat: "csv", IDColumn: "id", Shards: 4}}
	_, run, created, err := s.Submit(context.Background(), d)
	if err != nil || !created || run == nil {
		t.Fatalf("Submit: %v, %v, %v", run, created, err)
	}
	r, shards := waitRun(t, s, run.ID)
	if r.Status != store.RunSucceeded || r.RowsIn != 569 || r.RowsOut != 569 || r.Model != "bc" || r.Version != 1 {
		t.Fatalf("run = %+v", r)
	}
	var ids []int
	for _, sh := range shards {
		var sb strings.Builder
		if err := batch.Copy(context.Background(), nil, sh.Output, "", "-", "csv", &sb); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(sb.String()), "\n")[1:] {
			id, _ := strconv.Atoi(strings.Split(l, ",")[0])
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("ids across shards: position %d holds %d; want every row exactly once (%d ids)", i, id, len(ids))
		}
	}
	if len(ids) != 569 {
		t.Fatalf("%d rows across shards; want 569", len(ids))
	}
	var ds DriftSummary
	if err := json.Unmarshal(r.Drift, &ds); err != nil || !ds.Baseline || len(ds.Shards) != 4 || ds.Shards[0].Rows == 0 {
		t.Errorf("drift = %s (%v)", r.Drift, err)
	}
}

func TestRunWithoutBaselineSaysSo(t *testing.T) {
	s := newService(t, Options{})
	d := Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "score"},
		Spec: Spec{Model: "bc", Input: withID(t), Output: t.TempDir()}}
	_, run, _, err := s.Submit(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := waitRun(t, s, run.ID)
	if r.Status != store.RunSucceeded || !strings.Contains(string(r.Drift), "no baseline is stored for bc@1") {
		t.Errorf("run = %s, drift %s", r.Status, r.Drift)
	}
}

func TestSubmitErrors(t *testing.T) {
	s := newService(t, Options{})
	in := withID(t)
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Input: in, Output: "o"}, "spec.model: one of"},
		{Spec{Model: "bc", Endpoint: "e", Input: in, Output: "o"}, "not both"},
		{Spec{Model: "nope", Input: in, Output: "o"}, "spec.model"},
		{Spec{Model: "bc", Input: in}, "spec.output: required"},
		{Spec{Model: "bc", Input: "x.xls", Output: "o"}, "spec.input"},
		{Spec{Model: "bc", Input: in, Output: "o", Schedule: "every day"}, "spec.schedule"},
		{Spec{Model: "bc", Input: in, Output: "o", Shards: -1}, "spec.shards"},
		{Spec{Model: "bc", Input: filepath.Join(t.TempDir(), "none.csv"), Output: "o"}, "spec.input"},
	}
	for _, tt := range tests {
		_, _, _, err := s.Submit(context.Background(), Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "j"}, Spec: tt.spec})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Submit(%+v) = %v; want an error containing %q", tt.spec, err, tt.want)
		}
	}
	if _, err := ParseDocument([]byte("apiVersion: sluice.dev/v1\nkind: Job\nmetadata: {name: x}\nspec: {model: bc, input: a.csv, output: o, shardz: 2}\n")); err == nil || !strings.Contains(err.Error(), "shardz") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestScheduledJobRuns(t *testing.T) {
	s := newService(t, Options{})
	d := Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "often"},
		Spec: Spec{Model: "bc", Input: withID(t), Output: t.TempDir(), Schedule: "@every 1s"}}
	j, run, _, err := s.Submit(context.Background(), d)
	if err != nil || run != nil || j.NextRunAt.IsZero() {
		t.Fatalf("Submit = %+v, %v, %v; want a scheduled job and no run yet", j, run, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runs, _ := s.db.ListRuns(context.Background(), "often", 0)
		if len(runs) > 0 && runs[len(runs)-1].Status == store.RunSucceeded {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no scheduled run succeeded in 20s")
}

func TestRootsConfineJobs(t *testing.T) {
	root := t.TempDir()
	s := newService(t, Options{Roots: []string{root}})
	in := withID(t) // outside root
	inside := filepath.Join(root, "in.csv")
	b, _ := os.ReadFile(in)
	os.WriteFile(inside, b, 0o644)
	os.Symlink("/etc", filepath.Join(root, "etc"))
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Model: "bc", Input: in, Output: filepath.Join(root, "out")}, "spec.input"},
		{Spec{Model: "bc", Input: inside, Output: "/tmp/elsewhere"}, "spec.output"},
		{Spec{Model: "bc", Input: inside, Output: filepath.Join(root, "..", "x")}, "spec.output"},
		{Spec{Model: "bc", Input: inside, Output: filepath.Join(root, "etc", "x")}, "spec.output"},
		{Spec{Model: "bc", Input: inside, Output: "rel/out"}, "absolute"},
	}
	for _, tt := range tests {
		_, _, _, err := s.Submit(context.Background(), Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "j"}, Spec: tt.spec})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Submit(%s -> %s) = %v; want an error naming %s", tt.spec.Input, tt.spec.Output, err, tt.want)
		}
	}
	if _, _, _, err := s.Submit(context.Background(), Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "ok"},
		Spec: Spec{Model: "bc", Input: inside, Output: filepath.Join(root, "scores", "new")}}); err != nil {
		t.Errorf("inside the root: %v", err)
	}
}
