package xgboost

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// contribFile is testdata/contribs/NAME.json, written by gen_contribs.py:
// XGBoost's predict(pred_contribs=True) on NAME's rows.
type contribFile struct {
	Model    string        `json:"model"`
	Rows     int           `json:"rows"`
	Groups   int           `json:"groups"`
	Features int           `json:"features"`
	Contribs [][][]float64 `json:"contribs"`
}

func readContribs(t testing.TB, name string) contribFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "contribs", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c contribFile
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(c.Contribs) != c.Rows {
		t.Fatalf("%s: %d rows of contributions, want %d", name, len(c.Contribs), c.Rows)
	}
	return c
}

// rowsTensor packs rows into the model's [N, F] FP64 input.
func rowsTensor(b *Booster, rows [][]float64) inference.Tensor {
	nf := b.nFeature
	x := make([]float64, 0, len(rows)*nf)
	for _, r := range rows {
		x = append(x, r...)
	}
	return inference.Tensor{Name: b.inName, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(nf)}, F64: x}
}

// contribTol is the agreement asked of every contribution: 1e-5, relative
// to the row's largest margin when that exceeds 1, since XGBoost computes
// in float32 (whose spacing at a margin of 2.5e6, as in the "deep" case,
// is 0.25).
func contribTol(scale float64) float64 { return 1e-5 * max(1, scale) }

// TestExplainMatchesXGBoost checks Explain against XGBoost's own
// pred_contribs on every generated model and on the shared fixtures.
func TestExplainMatchesXGBoost(t *testing.T) {
	type source struct{ dir, name, contribs string }
	var cases []source
	for _, n := range generatedCases(t) {
		cases = append(cases, source{"testdata", n, n})
	}
	for _, n := range []string{"breast_cancer", "diabetes"} {
		cases = append(cases, source{examplesDir, n, "example_" + n})
	}
	for _, tc := range cases {
		t.Run(tc.contribs, func(t *testing.T) {
			fx := readFixture(t, tc.dir, tc.name)
			want := readContribs(t, tc.contribs)
			m := mustLoad(t, fx.model, inference.LoadOptions{})
			e, err := m.Explain(context.Background(), []inference.Tensor{rowsTensor(m, fx.rows)})
			if err != nil {
				t.Fatalf("Explain: %v", err)
			}
			if e.Rows != want.Rows || e.Groups != want.Groups || len(e.Features) != want.Features {
				t.Fatalf("explanation is %d rows × %d groups × %d features, want %d × %d × %d", e.Rows, e.Groups, len(e.Features), want.Rows, want.Groups, want.Features)
			}
			cols := want.Features + 1
			var worst float64
			for r, groups := range want.Contribs {
				for g, w := range groups {
					var scale float64
					for _, v := range w {
						scale += math.Abs(v)
					}
					got := e.Values[(r*e.Groups+g)*cols : (r*e.Groups+g+1)*cols]
					for j := range w {
						d := math.Abs(got[j] - w[j])
						worst = max(worst, d/max(1, scale))
						if !(d <= contribTol(scale)) {
							t.Fatalf("row %d group %d column %d: got %g, want %g (diff %g)", r, g, j, got[j], w[j], d)
						}
					}
				}
			}
			t.Logf("worst relative difference %.3g", worst)
			sums := make([][]float64, len(want.Contribs))
			for r, groups := range want.Contribs {
				for _, w := range groups {
					var sum float64
					for _, v := range w {
						sum += v
					}
					sums[r] = append(sums[r], sum)
				}
			}
			inferencetest.RunExplainer(t, inferencetest.ExplainCase{Model: m, Rows: fx.rows, Sums: sums, Tol: 1e-5})
		})
	}
}

// TestExplainSumsToMargin checks the defining property on the fixtures:
// contributions plus bias add up to the margin Predict reaches.
func TestExplainSumsToMargin(t *testing.T) {
	fx := readFixture(t, examplesDir, "breast_cancer")
	m := mustLoad(t, fx.model, inference.LoadOptions{})
	e, err := m.Explain(context.Background(), []inference.Tensor{rowsTensor(m, fx.rows)})
	if err != nil {
		t.Fatal(err)
	}
	cols := len(e.Features) + 1
	for r := range e.Rows {
		var sum float64
		for _, v := range e.Values[r*cols : (r+1)*cols] {
			sum += v
		}
		p := 1 / (1 + math.Exp(-sum))
		if math.Abs(p-fx.want[r][0]) > 1e-5 {
			t.Fatalf("row %d: sigmoid(sum of contributions) = %g, prediction %g", r, p, fx.want[r][0])
		}
	}
}

func TestExplainErrors(t *testing.T) {
	fx := readFixture(t, examplesDir, "diabetes")
	m := mustLoad(t, fx.model, inference.LoadOptions{})
	ctx := context.Background()
	var ie *inference.InputError
	bad := inference.Tensor{Name: m.inName, Datatype: inference.FP64, Shape: []int64{1, 3}, F64: []float64{1, 2, 3}}
	if _, err := m.Explain(ctx, []inference.Tensor{bad}); !errors.As(err, &ie) {
		t.Errorf("wrong width: err = %v, want an *InputError", err)
	}
	if _, err := m.Explain(ctx, nil); !errors.As(err, &ie) {
		t.Errorf("no inputs: err = %v, want an *InputError", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Explain(cancelled, []inference.Tensor{rowsTensor(m, fx.rows)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// BenchmarkExplain measures TreeSHAP per row on the shared fixtures (one
// goroutine; ns/op is the cost of explaining one row).
func BenchmarkExplain(b *testing.B) {
	for _, name := range []string{"breast_cancer", "diabetes"} {
		b.Run(name, func(b *testing.B) {
			fx := readFixture(b, examplesDir, name)
			m := mustLoad(b, fx.model, inference.LoadOptions{Threads: 1})
			in := []inference.Tensor{rowsTensor(m, fx.rows[:1])}
			ctx := context.Background()
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := m.Explain(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/row")
		})
		b.Run(name+"/predict", func(b *testing.B) {
			fx := readFixture(b, examplesDir, name)
			m := mustLoad(b, fx.model, inference.LoadOptions{Threads: 1})
			in := []inference.Tensor{rowsTensor(m, fx.rows[:1])}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Predict(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExplainRows explains every row of each fixture in one batch on
// one goroutine and reports the cost per row, to set beside XGBoost's own
// pred_contribs (bench/explain/contribs_bench.py).
func BenchmarkExplainRows(b *testing.B) {
	for _, name := range []string{"breast_cancer", "diabetes"} {
		b.Run(name, func(b *testing.B) {
			fx := readFixture(b, examplesDir, name)
			m := mustLoad(b, fx.model, inference.LoadOptions{Threads: 1})
			in := []inference.Tensor{rowsTensor(m, fx.rows)}
			ctx := context.Background()
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := m.Explain(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, comparable with the Python script's process_time
			// on a machine shared with other work.
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N*len(fx.rows))/1e3, "cpu-µs/row")
		})
	}
}
