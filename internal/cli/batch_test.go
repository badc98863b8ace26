package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/batch"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
)

func TestProgressPrinter(t *testing.T) {
	tests := []struct {
		mode string
		p    batch.Progress
		want string
	}{
		{"lines", batch.Progress{RowsIn: 500000, Rejected: 3, Done: 50, Total: 100, Elapsed: 2 * time.Second}, "batch: 500000 rows (3 rejected), 250.0k rows/s, 50%, eta 2s\n"},
		{"bar", batch.Progress{RowsIn: 2500000, Done: 25, Total: 100, Elapsed: time.Second, Finished: true}, "\r[=======                       ]  25%  2500000 rows  2.50M rows/s  ETA 3s  "},
		{"off", batch.Progress{RowsIn: 1, Finished: true}, ""},
		{"lines", batch.Progress{RowsIn: 10, ResumedRows: 4, Elapsed: time.Second, Finished: true}, "batch: 10 rows (0 rejected), 6 rows/s, 0%, eta ?\n"},
	}
	for _, tt := range tests {
		var sb strings.Builder
		p, err := newProgressPrinter(&sb, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		p.update(tt.p)
		if sb.String() != tt.want {
			t.Errorf("%s %+v:\n got %q\nwant %q", tt.mode, tt.p, sb.String(), tt.want)
		}
	}
	if _, err := newProgressPrinter(&strings.Builder{}, "fancy"); err == nil || !strings.Contains(err.Error(), "--progress") {
		t.Errorf("bad mode: %v", err)
	}
}

// TestBatchRunJSON checks the final summary of `batch run -o json` with a
// model file: the counts, the timing, the output and the model, and no
// drift (a model file has no baseline).
func TestBatchRunJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scores.csv")
	var stdout, stderr bytes.Buffer
	args := []string{"batch", "run", "--model-file", "../../examples/xgboost/breast_cancer.json", "--input", "../../examples/xgboost/breast_cancer.csv",
		"--output", out, "--progress", "off", "-o", "json"}
	if code := Main(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	want := []string{"duration_seconds", "model", "output", "rejected", "rows_in", "rows_out", "rows_per_second"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("keys (-want +got):\n%s\n%s", diff, stdout.String())
	}
	if got["rows_in"] != 569.0 || got["rows_out"] != 569.0 || got["rejected"] != 0.0 || got["output"] != out {
		t.Errorf("summary = %v", got)
	}
	if d, r := got["duration_seconds"].(float64), got["rows_per_second"].(float64); d <= 0 || r <= 0 || math.Abs(r-569/d) > 1e-6*r {
		t.Errorf("duration_seconds %v, rows_per_second %v", d, r)
	}
	m, _ := got["model"].(map[string]any)
	if m["file"] != "../../examples/xgboost/breast_cancer.json" || m["format"] != "xgboost" || len(m["digest"].(string)) != 64 {
		t.Errorf("model = %v", m)
	}
}

// failingPublisher publishes nothing, so a run stops with its work done
// and its checkpoint left in the work directory.
type failingPublisher struct{ batch.LocalFS }

func (failingPublisher) Publish(context.Context, string, string) error {
	return errors.New("destination unreachable")
}

// TestBatchWorkDir runs `batch run --work-dir`, and `batch resume
// --work-dir` on a run that stopped before publishing its output: the
// output appears, and neither directory keeps a work file.
func TestBatchWorkDir(t *testing.T) {
	const model, input = "../../examples/xgboost/breast_cancer.json", "../../examples/xgboost/breast_cancer.csv"
	sluice := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append(args, "--progress", "off"), strings.NewReader(""), &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	names := func(dir string) []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range es {
			ns = append(ns, e.Name())
		}
		return ns
	}

	outDir, work := t.TempDir(), t.TempDir()
	out := filepath.Join(outDir, "scores.csv")
	if _, stderr, code := sluice("batch", "run", "--model-file", model, "--input", input, "--output", out, "--work-dir", work); code != 0 {
		t.Fatalf("batch run: exit %d: %s", code, stderr)
	}
	if got := names(outDir); !slices.Equal(got, []string{"scores.csv"}) {
		t.Errorf("output directory holds %q; want only scores.csv", got)
	}
	if got := names(work); len(got) > 0 {
		t.Errorf("work directory holds %q after the run", got)
	}

	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := (xgboost.Format{}).Load(context.Background(), b, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(outDir, "again.csv")
	spec := batch.Spec{Input: input, Output: out2, Model: batch.ModelRef{File: model}}
	if _, err := batch.Run(context.Background(), spec, batch.Options{Model: m, Publisher: failingPublisher{}, WorkDir: work}); err == nil {
		t.Fatal("a run whose Publish fails succeeded")
	}
	if _, stderr, code := sluice("batch", "resume", out2); code == 0 || !strings.Contains(stderr, "no checkpoint at "+out2+".checkpoint") {
		t.Errorf("resume without --work-dir: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := sluice("batch", "resume", "--work-dir", work, out2)
	if code != 0 {
		t.Fatalf("batch resume --work-dir: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "569 written to "+out2) {
		t.Errorf("summary: %s", stdout)
	}
	a, errA := os.ReadFile(out)
	c, errC := os.ReadFile(out2)
	if errA != nil || errC != nil || !bytes.Equal(a, c) {
		t.Errorf("resumed output differs from the first run's (%v, %v)", errA, errC)
	}
	if got := names(work); len(got) > 0 {
		t.Errorf("work directory holds %q after the resume", got)
	}
}
