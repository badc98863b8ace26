package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/batch"
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
