package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/stream/brokertest"
)

// TestDeclarativeFiles applies examples/manifests (a file per strategy)
// to a real server, then checks that apply is idempotent, diff shows an
// edit, `get -o yaml` round-trips, and bad files are refused with the line.
func TestDeclarativeFiles(t *testing.T) {
	s := startServer(t)
	dir := filepath.Join(repoRoot(t), "examples", "manifests")
	strategies := []string{"canary", "blue-green", "shadow-then-canary", "champion-challenger", "bandit", "gated"}

	out := s.cli(t, "diff", "-f", dir)
	if n := strings.Count(out, "): created\n"); n != 2+2*len(strategies) {
		t.Errorf("diff on an empty server shows %d created objects, want %d:\n%s", n, 2+2*len(strategies), out)
	}

	// Each strategy file with the model versions it serves.
	for _, name := range strategies {
		out := s.cli(t, "apply", "-f", filepath.Join(dir, "models.yaml"), "-f", filepath.Join(dir, name+".yaml"))
		if !strings.Contains(out, "Rollout/") || !strings.Contains(out, " created") {
			t.Errorf("apply %s.yaml:\n%s", name, out)
		}
	}
	var docs []rollout.Document
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.cliJSON(t, &docs, "rollout", "list")
		pending := 0
		for _, d := range docs {
			if d.Status.Phase == rollout.Pending {
				pending++
			}
		}
		if len(docs) == len(strategies) && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollouts not all started after 30s: %+v", docs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, d := range docs {
		t.Logf("rollout %s: %s", d.Metadata.Name, d.Status.Phase)
	}

	// The whole directory again: nothing changes.
	out = s.cli(t, "apply", "-f", dir)
	if lines := strings.Count(out, " unchanged\n"); lines != 2+2*len(strategies) || strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("second apply is not a no-op (%d unchanged):\n%s", lines, out)
	}
	if out := s.cli(t, "diff", "-f", dir); !strings.Contains(out, "No changes") {
		t.Errorf("diff after apply:\n%s", out)
	}
	versions, err := s.client().ListVersions(t.Context(), "breast-cancer")
	must(t, err, "list versions")
	if len(versions) != 2 {
		t.Errorf("%d versions after applying 8 times, want 2 (pushed only for new artifacts)", len(versions))
	}

	// An edit shows as a unified diff, applies as one new revision, and
	// then is unchanged.
	edited := filepath.Join(t.TempDir(), "canary.yaml")
	src, err := os.ReadFile(filepath.Join(dir, "canary.yaml"))
	must(t, err, "read canary.yaml")
	must(t, os.WriteFile(edited, []byte(strings.Replace(string(src), "timeout: 500ms", "timeout: 800ms", 1)), 0o644), "write")
	out = s.cli(t, "diff", "-f", edited)
	for _, want := range []string{"Endpoint/bc-canary (" + edited + ":7): updated", "--- live\n+++ " + edited, "-    timeout: 500ms\n+    timeout: 800ms\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of the edit lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := s.cliResult("diff", "--exit-code", "-f", edited); code != 1 {
		t.Errorf("diff --exit-code with a difference exited %d, want 1", code)
	}
	if out := s.cli(t, "apply", "-f", edited); !strings.Contains(out, "Endpoint/bc-canary updated (revision ") {
		t.Errorf("apply of the edit:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", edited); strings.Contains(out, "updated") {
		t.Errorf("re-apply of the edit changed something:\n%s", out)
	}

	// get -o yaml writes files that apply as unchanged.
	rt := t.TempDir()
	for _, kind := range []string{"models", "endpoints", "rollouts"} {
		must(t, os.WriteFile(filepath.Join(rt, kind+".yaml"), []byte(s.cli(t, "get", kind, "-o", "yaml")), 0o644), "write %s", kind)
	}
	must(t, os.WriteFile(filepath.Join(rt, "one.yaml"), []byte(s.cli(t, "get", "model", "breast-cancer@staging", "-o", "yaml")), 0o644), "write one")
	out = s.cli(t, "apply", "-f", filepath.Join(rt, "models.yaml"), "-f", filepath.Join(rt, "endpoints.yaml"), "-f", filepath.Join(rt, "rollouts.yaml"))
	if strings.Count(out, " unchanged\n") != 2+2*len(strategies) {
		t.Errorf("applying get -o yaml output changed something:\n%s", out)
	}
	if out := s.cli(t, "diff", "-f", filepath.Join(rt, "one.yaml")); !strings.Contains(out, "No changes: the server matches 1 documents") {
		t.Errorf("diff of get model NAME@ALIAS -o yaml:\n%s", out)
	}

	// An alias moved by hand is moved back by apply, with a diff first.
	_, err = s.client().SetAlias(t.Context(), "breast-cancer", "staging", 1)
	must(t, err, "move alias")
	models := filepath.Join(dir, "models.yaml")
	out = s.cli(t, "diff", "-f", models)
	if !strings.Contains(out, "models.yaml:20): updated") || !strings.Contains(out, "+  aliases:\n+  - staging\n") {
		t.Errorf("diff after moving an alias:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", models); !strings.Contains(out, "updated: version 2, alias staging → it") {
		t.Errorf("apply after moving an alias:\n%s", out)
	}
	if v, err := s.client().GetVersion(t.Context(), "breast-cancer", "staging"); err != nil || v.Version != 2 {
		t.Errorf("staging is version %d (%v), want 2", v.Version, err)
	}

	// Bad files: nothing is written, and the error names the path and line.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(bad, []byte(strings.Replace(string(src), "setWeight: 50", "setWeight: 150", 1)), 0o644), "write")
	_, errOut, code := s.cliResult("apply", "-f", bad)
	if code == 0 || !strings.Contains(errOut, bad+": spec.steps[2].setWeight: must be a percentage 0..100, got 150 (line 35)") {
		t.Errorf("apply of a bad file: exit %d\n%s", code, errOut)
	}
	conflict := filepath.Join(dir, "conflict.yaml") // beside models/ so the artifact path resolves
	changed := strings.Replace(readString(t, filepath.Join(dir, "models.yaml")), "description: 50 trees of depth 4", "description: edited", 1)
	must(t, os.WriteFile(conflict, []byte(changed), 0o644), "write")
	t.Cleanup(func() { os.Remove(conflict) })
	_, errOut, code = s.cliResult("apply", "-f", conflict)
	if code == 0 || !strings.Contains(errOut, "version 1 has this artifact with another description; versions are immutable") {
		t.Errorf("apply of an edited immutable version: exit %d\n%s", code, errOut)
	}
	if _, _, code := s.cliResult("get", "deployment"); code == 0 {
		t.Errorf("get of an unknown kind succeeded")
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err, "read %s", path)
	return string(b)
}

// TestAdviseAppliesAsIs measures an endpoint's traffic, asks the advisor,
// and applies its output unedited.
func TestAdviseAppliesAsIs(t *testing.T) {
	s := startServer(t)
	dir := filepath.Join(repoRoot(t), "examples", "manifests")
	ep := filepath.Join(t.TempDir(), "endpoint.yaml")
	must(t, os.WriteFile(ep, []byte("apiVersion: sluice.dev/v1\nkind: Endpoint\nmetadata: {name: bc}\nspec:\n  model: breast-cancer\n  version: production\n  protection: {timeout: 200ms}\n"), 0o644), "write")
	s.cli(t, "apply", "-f", filepath.Join(dir, "models.yaml"), "-f", ep)
	body := []byte(readString(t, filepath.Join(repoRoot(t), "examples", "rollouts", "request.json")))
	for range 150 {
		_, _, err := s.client().Predict(t.Context(), "bc", body)
		must(t, err, "predict")
	}

	out := s.cli(t, "advise", "bc", "--candidate", "breast-cancer@staging")
	for _, want := range []string{"# Measured:\n#   traffic: 150 requests in the ", "stable (version 1): 0 errors in 150 requests", "# Strategy: canary", "errorRate: ", "candidate: staging", "kind: Rollout"} {
		if !strings.Contains(out, want) {
			t.Errorf("advise output lacks %q:\n%s", want, out)
		}
	}
	advised := filepath.Join(t.TempDir(), "rollout.yaml")
	must(t, os.WriteFile(advised, []byte(out), 0o644), "write")
	if out := s.cli(t, "apply", "-f", advised); !strings.Contains(out, "Rollout/bc-canary created") {
		t.Errorf("apply of the advice:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", advised); !strings.Contains(out, "Rollout/bc-canary unchanged") {
		t.Errorf("re-apply of the advice:\n%s", out)
	}

	// Regulated (the endpoint's approval setting) without labels: shadow
	// first, with gates.
	must(t, os.WriteFile(ep, []byte("apiVersion: sluice.dev/v1\nkind: Endpoint\nmetadata: {name: bc}\nspec:\n  model: breast-cancer\n  version: production\n  approval: required\n"), 0o644), "write")
	s.cli(t, "apply", "-f", ep)
	out = s.cli(t, "advise", "bc", "--requests-per-hour", "20000")
	for _, want := range []string{"# Strategy: shadow-then-canary", "requires approval", "modelCard:", "- mirror:"} {
		if !strings.Contains(out, want) {
			t.Errorf("regulated advice lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := s.cliResult("advise", "bc", "--candidate", "other@2"); code == 0 || !strings.Contains(errOut, "serves model breast-cancer, not other") {
		t.Errorf("advise with another model's candidate: exit %d, %s", code, errOut)
	}
}

// TestDeclarativeJobs applies a scheduled Job and a one-off Job with the
// model and endpoint they score with: dependency order, an idempotent
// re-apply that never re-runs the one-off job, diffs of edits, and `get
// jobs -o yaml` output that applies as unchanged.
func TestDeclarativeJobs(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "in.csv"), []byte(readString(t, filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))), 0o644), "write input")
	work := filepath.Join(dir, "work.yaml")
	src := `apiVersion: sluice.dev/v1
kind: Job
metadata: {name: once}
spec:
  endpoint: bc
  input: in.csv
  output: out-once
  outputFormat: csv
---
apiVersion: sluice.dev/v1
kind: Job
metadata: {name: nightly}
spec:
  model: breast-cancer@production
  input: in.csv
  output: out
  shards: 2
  schedule: "0 2 * * *"
---
apiVersion: sluice.dev/v1
kind: Endpoint
metadata: {name: bc}
spec: {model: breast-cancer, version: production}
`
	must(t, os.WriteFile(work, []byte(src), 0o644), "write work.yaml")
	models := filepath.Join(repoRoot(t), "examples", "manifests", "models.yaml")
	example := filepath.Join(repoRoot(t), "examples", "jobs", "nightly-scores.yaml")

	out := s.cli(t, "diff", "-f", work)
	for _, want := range []string{"Job/once (" + work + ":1): created", "# note: a job without a schedule runs once, when apply creates it",
		"+  input: " + filepath.Join(dir, "in.csv") + "\n", "+  outputFormat: parquet\n", "+  schedule: 0 2 * * *\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff on an empty server lacks %q:\n%s", want, out)
		}
	}

	out = s.cli(t, "apply", "-f", work, "-f", models, "-f", example)
	for _, want := range []string{"Endpoint/bc created", "Job/nightly created: next run at ", "Job/once created: run once-1 ", "Job/nightly-scores created: next run at "} {
		if !strings.Contains(out, want) {
			t.Errorf("apply lacks %q:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "Endpoint/bc"), strings.Index(out, "Job/"); i < 0 || j < i {
		t.Errorf("jobs applied before the endpoint they score with:\n%s", out)
	}
	run := waitRun(t, s, "once", "once-1")
	if run.Status != "succeeded" || run.RowsOut != 569 {
		t.Fatalf("run once-1: %+v", run)
	}

	// Again: nothing changes, and the one-off job is not run again.
	out = s.cli(t, "apply", "-f", work, "-f", models, "-f", example)
	if n := strings.Count(out, " unchanged\n"); n != 6 || strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("second apply is not a no-op (%d unchanged):\n%s", n, out)
	}
	if !strings.Contains(out, "note: a job without a schedule: its last run is once-1 (succeeded); apply does not run it again") {
		t.Errorf("second apply does not say why the one-off job is not run:\n%s", out)
	}
	var detail apiclient.JobDetail
	s.cliJSON(t, &detail, "job", "show", "once")
	if len(detail.Runs) != 1 {
		t.Errorf("the one-off job has %d runs after a second apply, want 1", len(detail.Runs))
	}
	if out := s.cli(t, "diff", "-f", work); !strings.Contains(out, "No changes: the server matches 3 documents") {
		t.Errorf("diff after apply:\n%s", out)
	}

	// Edits: the scheduled job's definition changes; the one-off job runs
	// again, and diff and apply say so.
	must(t, os.WriteFile(work, []byte(strings.Replace(strings.Replace(src, "shards: 2", "shards: 3", 1), "outputFormat: csv", "outputFormat: jsonl", 1)), 0o644), "write")
	out = s.cli(t, "diff", "-f", work)
	for _, want := range []string{"Job/nightly (" + work + ":10): updated", "-  shards: 2\n+  shards: 3\n",
		"Job/once (" + work + ":1): updated", "# note: a job without a schedule runs again when its spec changes: apply starts a new run (its last run is once-1 (succeeded))",
		"-  outputFormat: csv\n+  outputFormat: jsonl\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of the edits lacks %q:\n%s", want, out)
		}
	}
	out = s.cli(t, "apply", "-f", work)
	for _, want := range []string{"Job/nightly updated: next run at ", "Job/once updated: run once-2 "} {
		if !strings.Contains(out, want) {
			t.Errorf("apply of the edits lacks %q:\n%s", want, out)
		}
	}
	waitRun(t, s, "once", "once-2")

	// get -o yaml round-trips.
	rt := filepath.Join(t.TempDir(), "jobs.yaml")
	must(t, os.WriteFile(rt, []byte(s.cli(t, "get", "jobs", "-o", "yaml")), 0o644), "write")
	if out := s.cli(t, "apply", "-f", rt); strings.Count(out, " unchanged\n") != 3 || strings.Contains(out, "updated") {
		t.Errorf("applying get jobs -o yaml changed something:\n%s", out)
	}
	one := filepath.Join(t.TempDir(), "nightly.yaml")
	must(t, os.WriteFile(one, []byte(s.cli(t, "get", "job", "nightly", "-o", "yaml")), 0o644), "write")
	if out := s.cli(t, "diff", "-f", one); !strings.Contains(out, "No changes: the server matches 1 documents") {
		t.Errorf("diff of get job nightly -o yaml:\n%s", out)
	}
	if out := s.cli(t, "get", "jobs"); !strings.Contains(out, "nightly-scores") || !strings.Contains(out, "once-2") {
		t.Errorf("get jobs:\n%s", out)
	}

	// A bad file is refused with the field and its line.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(bad, []byte(strings.Replace(src, "shards: 2", "shard: 2", 1)), 0o644), "write")
	if _, errOut, code := s.cliResult("apply", "-f", bad); code == 0 || !strings.Contains(errOut, bad+": spec.shard: unknown field; did you mean shards? (line 17)") {
		t.Errorf("apply of a bad job: exit %d\n%s", code, errOut)
	}
}

// TestDeclarativeStreams applies a Stream with the endpoint it scores
// through, re-applies it unchanged, shows that a paused stream is resumed
// by a file that does not pause it, and round-trips `get streams -o yaml`.
func TestDeclarativeStreams(t *testing.T) {
	nats := brokertest.Addr(t, "nats")
	s := startServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "stream.yaml")
	must(t, os.WriteFile(file, []byte(`apiVersion: sluice.dev/v1
kind: Stream
metadata:
  name: scores
  labels: {team: oncology}
spec:
  source: nats://`+nats+`/`+brokertest.Topic(t, "decl.in")+`
  endpoint: bc
  sink: nats://`+nats+`/`+brokertest.Topic(t, "decl.out")+`
  idField: id
  window:
    type: sliding
    size: 10m
    slide: 1m
    aggregates: [{fn: count, as: n_10m}]
---
apiVersion: sluice.dev/v1
kind: Endpoint
metadata: {name: bc}
spec: {model: breast-cancer, version: production}
`), 0o644), "write")
	models := filepath.Join(repoRoot(t), "examples", "manifests", "models.yaml")

	if out := s.cli(t, "diff", "-f", file); !strings.Contains(out, "Stream/scores ("+file+":1): created") || !strings.Contains(out, "+    size: 10m0s\n") {
		t.Errorf("diff on an empty server:\n%s", out)
	}
	out := s.cli(t, "apply", "-f", file, "-f", models)
	if i, j := strings.Index(out, "Endpoint/bc created"), strings.Index(out, "Stream/scores created: nats://"); i < 0 || j < i {
		t.Errorf("apply:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", file); strings.Count(out, " unchanged\n") != 2 {
		t.Errorf("second apply is not a no-op:\n%s", out)
	}

	s.cli(t, "stream", "pause", "scores")
	out = s.cli(t, "diff", "-f", file)
	for _, want := range []string{"Stream/scores (" + file + ":1): updated", "# note: the stream is paused and the file does not say paused: true; apply resumes it", "-  paused: true\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of a paused stream lacks %q:\n%s", want, out)
		}
	}
	if out := s.cli(t, "apply", "-f", file); !strings.Contains(out, "Stream/scores updated: ") || !strings.Contains(out, "(generation 3)") {
		t.Errorf("apply to a paused stream:\n%s", out)
	}

	rt := filepath.Join(t.TempDir(), "streams.yaml")
	must(t, os.WriteFile(rt, []byte(s.cli(t, "get", "streams", "-o", "yaml")), 0o644), "write")
	if out := s.cli(t, "apply", "-f", rt); !strings.Contains(out, "Stream/scores unchanged\n") {
		t.Errorf("applying get streams -o yaml:\n%s", out)
	}
	if out := s.cli(t, "diff", "-f", file); !strings.Contains(out, "No changes") {
		t.Errorf("diff after the round trip:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(bad, []byte(strings.Replace(readString(t, file), "size: 10m", "size: 10", 1)), 0o644), "write")
	if _, errOut, code := s.cliResult("apply", "-f", bad); code == 0 || !strings.Contains(errOut, bad+`: spec.window.size: duration must be a string like "30s", got 10 (line 13)`) {
		t.Errorf("apply of a bad stream: exit %d\n%s", code, errOut)
	}
}

// waitRun polls a job run until it ends.
func waitRun(t *testing.T, s *server, job, id string) apiclient.JobRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		run, err := s.client().GetJobRun(t.Context(), job, id)
		must(t, err, "run %s", id)
		switch run.Status {
		case "succeeded", "failed", "cancelled":
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after 60s", id, run.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
