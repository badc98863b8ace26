package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/batch"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// writeIDCSV writes the breast_cancer fixture times times with an id
// column (0, 1, ...) and returns its path and row count.
func writeIDCSV(t *testing.T, times int) (string, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))
	must(t, err, "reading fixture")
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	path := filepath.Join(t.TempDir(), "in.csv")
	f, err := os.Create(path)
	must(t, err, "creating input")
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "id,%s\n", ls[0])
	n := 0
	for range times {
		for _, l := range ls[1:] {
			fmt.Fprintf(w, "%d,%s\n", n, l)
			n++
		}
	}
	must(t, w.Flush(), "writing input")
	f.Close()
	return path, n
}

// TestBatchLocalCLI scores the fixture CSV to Parquet with the CLI alone
// and reads it back, as the README shows.
func TestBatchLocalCLI(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	in := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv")
	out := filepath.Join(dir, "scores.parquet")
	cmd := sluiceCmd(context.Background(), "batch", "run", "--model-file", model, "--input", in, "--output", out, "--keep-columns", "mean_radius")
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "scored 569 rows") {
		t.Fatalf("batch run: %v\n%s", err, b)
	}
	b, err = sluiceCmd(context.Background(), "batch", "cat", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 570 || lines[0] != "mean_radius,predict" || lines[1] != "17.99,0.0071394285" {
		t.Fatalf("batch cat: %d lines, first %q", len(lines), lines[:2])
	}
}

// worker is a running `sluice server --role worker`.
type worker struct {
	id   string
	cmd  *exec.Cmd
	done chan error
}

func startWorker(t *testing.T, dsn, id string) *worker {
	t.Helper()
	cmd := sluiceCmd(context.Background(), "server", "--role", "worker", "--store", dsn, "--data-dir", t.TempDir(),
		"--worker-id", id, "--job-lease", "2s", "--log-level", "warn")
	must(t, cmd.Start(), "starting worker %s", id)
	w := &worker{id: id, cmd: cmd, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	})
	return w
}

// TestBatchJobWorkersPostgres runs a sharded job on three workers sharing
// PostgreSQL, kills one with SIGKILL while it holds a shard, and checks that
// the shard is claimed again and that the output has every input row
// exactly once.
func TestBatchJobWorkersPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := startServer(t, "--store", dsn, "--no-job-worker")
	s.cli(t, "model", "push", "bc", filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json"))
	in, rows := writeIDCSV(t, 120)
	outDir := t.TempDir()
	workers := map[string]*worker{}
	for _, id := range []string{"w1", "w2", "w3"} {
		workers[id] = startWorker(t, dsn, id)
	}
	c := s.client()
	ctx := context.Background()
	res, err := c.SubmitJob(ctx, jobs.Document{APIVersion: jobs.APIVersion, Kind: jobs.Kind, Metadata: jobs.Metadata{Name: "score"},
		Spec: jobs.Spec{Model: "bc@latest", Input: in, Output: outDir, OutputFormat: "csv", IDColumn: "id", Shards: 9, ChunkRows: 512}})
	must(t, err, "submitting the job")
	runID := res.Run.ID

	// Kill the worker of the first running shard we see. The kill is
	// mid-shard when, after it, the store still says that worker holds
	// the shard: it can never finish it.
	var killed string
	var killedShard int = -1
	deadline := time.Now().Add(60 * time.Second)
	for killed == "" && time.Now().Before(deadline) {
		run, err := c.GetJobRun(ctx, "score", runID)
		must(t, err, "reading the run")
		for _, sh := range run.ShardList {
			if sh.Status == "running" && workers[sh.Worker] != nil {
				w := workers[sh.Worker]
				_ = w.cmd.Process.Kill()
				<-w.done
				delete(workers, sh.Worker)
				after, err := c.GetJobRun(ctx, "score", runID)
				must(t, err, "reading the run")
				if st := after.ShardList[sh.Index]; st.Status == "running" && st.Worker == w.id && st.Attempt == sh.Attempt {
					killed, killedShard = w.id, sh.Index
				}
				break
			}
		}
		if len(workers) < 2 {
			t.Fatal("two workers finished their shards before being killed; the shards are too small to kill one mid-shard")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if killed == "" {
		t.Fatal("no worker killed mid-shard")
	}
	t.Logf("killed %s while it held shard %d", killed, killedShard)

	var run apiclient.JobRun
	for time.Now().Before(deadline) {
		if run, err = c.GetJobRun(ctx, "score", runID); err == nil && run.Status != "running" && run.Status != "pending" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if run.Status != "succeeded" || run.RowsIn != int64(rows) || run.RowsOut != int64(rows) || run.Rejected != 0 {
		t.Fatalf("run = %s: %d in, %d out, %d rejected (%s); want succeeded with %d rows", run.Status, run.RowsIn, run.RowsOut, run.Rejected, run.Error, rows)
	}
	sh := run.ShardList[killedShard]
	if sh.Worker == killed || sh.Attempt < 2 {
		t.Errorf("shard %d finished by %s at attempt %d; want another worker at attempt >= 2", killedShard, sh.Worker, sh.Attempt)
	}
	logs := s.cli(t, "job", "logs", "score")
	if !strings.Contains(logs, "the lease of "+killed+" ran out") {
		t.Errorf("job logs do not show the reclaim:\n%s", logs)
	}

	// Every input id exactly once across the part files, and no other
	// file: the killed attempt's leftovers are gone.
	var ids []int
	var entries []os.DirEntry
	for end := time.Now().Add(5 * time.Second); ; { // the finishing worker removes leftovers just after
		entries, err = os.ReadDir(filepath.Join(outDir, runID))
		must(t, err, "reading the output directory")
		if len(entries) == 9 || time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	parts := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "part-") {
			t.Errorf("%s left in the output directory", e.Name())
			continue
		}
		parts++
		var sb strings.Builder
		must(t, batch.Copy(ctx, nil, filepath.Join(outDir, runID, e.Name()), "", "-", "csv", &sb), "reading %s", e.Name())
		for _, l := range strings.Split(strings.TrimSpace(sb.String()), "\n")[1:] {
			id, err := strconv.Atoi(strings.SplitN(l, ",", 2)[0])
			must(t, err, "id in %q", l)
			ids = append(ids, id)
		}
	}
	if parts != 9 {
		t.Errorf("%d part files; want 9", parts)
	}
	sort.Ints(ids)
	if len(ids) != rows {
		t.Fatalf("%d rows in the output; want %d", len(ids), rows)
	}
	for i, id := range ids {
		if id != i {
			t.Fatalf("output ids: position %d holds %d; every id must appear exactly once", i, id)
		}
	}
	// The CLI scores locally with the registry's version too.
	local := filepath.Join(t.TempDir(), "local.csv")
	if out := s.cli(t, "batch", "run", "--model", "bc@latest", "--input", in, "--output", local, "--id-column", "id", "--progress", "off"); !strings.Contains(out, fmt.Sprintf("scored %d rows with bc@1", rows)) {
		t.Errorf("batch run --model: %s", out)
	}
	show := s.cli(t, "job", "show", "score")
	for _, want := range []string{"succeeded", "bc@1", fmt.Sprintf("%d in, %d out, 0 rejected", rows, rows), "no baseline is stored for bc@1"} {
		if !strings.Contains(show, want) {
			t.Errorf("job show lacks %q:\n%s", want, show)
		}
	}
}

// TestBatchKillAndResumeCLI kills `sluice batch run` with SIGKILL mid-run
// and finishes it with `sluice batch resume`: the output is the one an
// uninterrupted run writes.
func TestBatchKillAndResumeCLI(t *testing.T) {
	in, rows := writeIDCSV(t, 40)
	dir := t.TempDir()
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	args := func(out string) []string {
		return []string{"batch", "run", "--model-file", model, "--input", in, "--output", out, "--id-column", "id",
			"--chunk-rows", "100", "--workers", "2", "--checkpoint-interval", "0", "--progress", "off"}
	}
	ref := filepath.Join(dir, "ref.parquet")
	if b, err := sluiceCmd(context.Background(), args(ref)...).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, b)
	}
	out := filepath.Join(dir, "out.parquet")
	cmd := sluiceCmd(context.Background(), args(out)...)
	must(t, cmd.Start(), "starting batch run")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	killed := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !killed; {
		select {
		case err := <-done:
			t.Fatalf("batch run ended before it could be killed: %v", err)
		default:
		}
		if cp, _, err := batch.ReadCheckpoint(out); err == nil && cp.State.Seq >= int64(rows/100/3) {
			_ = cmd.Process.Kill()
			<-done
			killed = true
		}
		time.Sleep(time.Millisecond)
	}
	if !killed {
		t.Fatal("batch run never reached a third of its chunks")
	}
	b, err := sluiceCmd(context.Background(), "batch", "resume", out, "--progress", "off").CombinedOutput()
	if err != nil || !strings.Contains(string(b), fmt.Sprintf("scored %d rows", rows)) {
		t.Fatalf("batch resume: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(ref)
	got, _ := os.ReadFile(out)
	if len(got) == 0 || string(got) != string(want) {
		t.Fatalf("resumed output (%d bytes) differs from the uninterrupted run's (%d bytes)", len(got), len(want))
	}
}

// TestJobSubmitCLI: a kind: Job file with a schedule, and bad submissions
// answered with 4xx naming the field.
func TestJobSubmitCLI(t *testing.T) {
	s := startServer(t)
	s.cli(t, "model", "push", "bc", filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json"))
	in := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv")
	spec := filepath.Join(t.TempDir(), "job.yaml")
	must(t, os.WriteFile(spec, []byte(`apiVersion: sluice.dev/v1
kind: Job
metadata:
  name: nightly
spec:
  model: bc@latest
  input: `+in+`
  output: `+t.TempDir()+`
  shards: 2
  schedule: "0 2 * * *"
`), 0o644), "writing job.yaml")
	if out := s.cli(t, "job", "submit", "-f", spec); !strings.Contains(out, "job nightly created; next run at") {
		t.Errorf("submit -f: %s", out)
	}
	var list []apiclient.Job
	s.cliJSON(t, &list, "job", "list")
	if len(list) != 1 || list[0].Spec.Schedule != "0 2 * * *" || list[0].NextRunAt.IsZero() || list[0].Spec.Shards != 2 {
		t.Errorf("job list = %+v", list)
	}

	// -o json prints the job and its run (here --output names the output
	// directory), and a failed run still exits non-zero.
	var res apiclient.SubmitJobResult
	s.cliJSON(t, &res, "job", "submit", "once", "--model", "bc", "--input", in, "--output", t.TempDir(), "--wait")
	if !res.Created || res.Job.Name != "once" || res.Job.Spec.Model != "bc" || res.Run == nil || res.Run.Status != "succeeded" || res.Run.RowsOut != 569 {
		t.Errorf("job submit -o json = %+v (run %+v)", res, res.Run)
	}
	res = apiclient.SubmitJobResult{}
	s.cliJSON(t, &res, "job", "submit", "-f", spec)
	if res.Created || res.Job.Name != "nightly" || res.Run != nil || res.Job.NextRunAt.IsZero() {
		t.Errorf("job submit -f -o json of an existing job = %+v", res)
	}
	out, errOut, code := s.cliResult("job", "submit", "strict", "--model", "bc", "--input", in, "--output", t.TempDir(), "--max-reject-rate", "0", "--keep-columns", "nope", "--wait", "-o", "json")
	if code == 0 || !json.Valid([]byte(out)) || !strings.Contains(errOut, "run strict-1 failed") {
		t.Errorf("job submit --wait -o json of a failing run: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"job", "submit", "x", "--model", "bc", "--output", "/tmp/o"}, "spec.input: required"},
		{[]string{"job", "submit", "x", "--model", "bc", "--input", in, "--output", "/tmp/o", "--schedule", "daily"}, "spec.schedule"},
		{[]string{"job", "submit", "x", "--model", "bc", "--input", in, "--output", "/tmp/o", "--max-reject-rate", "2"}, "spec.maxRejectRate"},
		{[]string{"job", "cancel", "nightly"}, "no run in progress"},
		{[]string{"job", "show", "nope"}, "not found"},
	} {
		_, errOut, code := s.cliResult(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("sluice %s: exit %d, %q; want exit 2 naming %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}

// TestBatchRunJSON: `batch run -o json` with a registry version prints the
// summary and the input's drift against the version's baseline; without a
// baseline it says why there is none.
func TestBatchRunJSON(t *testing.T) {
	s := startServer(t)
	fixture := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv")
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	s.cli(t, "model", "push", "bc", model, "--baseline", fixture)
	s.cli(t, "model", "push", "plain", model)
	out := filepath.Join(t.TempDir(), "scores.parquet")
	var sum struct {
		Output          string             `json:"output"`
		RowsIn          int64              `json:"rows_in"`
		RowsOut         int64              `json:"rows_out"`
		Rejected        int64              `json:"rejected"`
		DurationSeconds float64            `json:"duration_seconds"`
		RowsPerSecond   float64            `json:"rows_per_second"`
		Model           batch.ModelRef     `json:"model"`
		Drift           *jobs.DriftSummary `json:"drift"`
	}
	s.cliJSON(t, &sum, "batch", "run", "--model", "bc@1", "--input", fixture, "--output", out, "--progress", "off")
	if sum.Output != out || sum.RowsIn != 569 || sum.RowsOut != 569 || sum.Rejected != 0 || sum.DurationSeconds <= 0 || sum.RowsPerSecond <= 0 ||
		sum.Model.Name != "bc" || sum.Model.Version != 1 || sum.Model.Digest == "" {
		t.Errorf("batch run -o json = %+v", sum)
	}
	if d := sum.Drift; d == nil || !d.Baseline || d.Report == nil || len(d.Report.Features) != 30 || d.Drifted {
		t.Errorf("drift of the baseline's own data = %+v", d)
	}
	sum.Drift = nil
	s.cliJSON(t, &sum, "batch", "run", "--model", "plain", "--input", fixture, "--output", filepath.Join(t.TempDir(), "p.csv"), "--progress", "off")
	if d := sum.Drift; d == nil || d.Baseline || !strings.Contains(d.Message, "no baseline is stored for plain@1") {
		t.Errorf("drift without a baseline = %+v", d)
	}
	if text := s.cli(t, "batch", "run", "--model", "bc", "--input", fixture, "--output", filepath.Join(t.TempDir(), "t.csv"), "--progress", "off"); !strings.Contains(text, "drift: none flagged against the version's baseline") {
		t.Errorf("batch run summary:\n%s", text)
	}
}
