package batching

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/linear"
	"github.com/sluicehq/sluice/internal/inference/onnx"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
)

// examples is the repository's examples directory.
func examples(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// readRows reads a CSV of numbers with a header line.
func readRows(t testing.TB, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float64, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatal(err)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// fixture is a real model with rows to score.
type fixture struct {
	model inference.Model
	input string
	rows  [][]float64
	dt    inference.Datatype
}

func loadXGBoost(t testing.TB) fixture {
	t.Helper()
	dir := examples(t)
	data, err := os.ReadFile(filepath.Join(dir, "xgboost", "breast_cancer.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig := m.Signature()
	return fixture{model: m, input: sig.Inputs[0].Name, rows: readRows(t, filepath.Join(dir, "xgboost", "breast_cancer.csv")), dt: inference.FP64}
}

func loadLinear(t testing.TB) fixture {
	t.Helper()
	dir := examples(t)
	data, err := os.ReadFile(filepath.Join(dir, "linear", "iris.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := linear.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig := m.Signature()
	return fixture{model: m, input: sig.Inputs[0].Name, rows: readRows(t, filepath.Join(dir, "linear", "iris.csv")), dt: inference.FP64}
}

// loadONNX loads the MLP fixture on one thread, or skips the test when
// this build or host cannot run ONNX models.
func loadONNX(t testing.TB) fixture {
	t.Helper()
	dir := examples(t)
	lib := os.Getenv(onnx.EnvLibrary)
	if lib == "" {
		lib = filepath.Join(filepath.Dir(dir), "third_party", "onnxruntime", "libonnxruntime.so.1.24.1")
	}
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("ONNX Runtime library not found (%v): set %s", err, onnx.EnvLibrary)
	}
	data, err := os.ReadFile(filepath.Join(dir, "onnx", "breast_cancer_mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.New(onnx.Options{LibraryPath: lib}).Load(context.Background(), data, inference.LoadOptions{Threads: 1})
	if err != nil {
		t.Skipf("cannot run ONNX models here: %v", err)
	}
	t.Cleanup(func() { _ = m.(interface{ Close() error }).Close() })
	sig := m.Signature()
	return fixture{model: m, input: sig.Inputs[0].Name, rows: readRows(t, filepath.Join(dir, "onnx", "breast_cancer_mlp.csv")), dt: inference.FP32}
}

// tensor returns rows as the fixture's input tensor.
func (fx fixture) tensor(rows ...[]float64) inference.Tensor {
	cols := len(rows[0])
	t := inference.Tensor{Name: fx.input, Datatype: fx.dt, Shape: []int64{int64(len(rows)), int64(cols)}}
	for _, r := range rows {
		for _, v := range r {
			if fx.dt == inference.FP32 {
				t.F32 = append(t.F32, float32(v))
			} else {
				t.F64 = append(t.F64, v)
			}
		}
	}
	return t
}

// counting is a thin wrapper recording the rows of each runtime call.
type counting struct {
	inference.Model
	mu    sync.Mutex
	calls []int // guarded by mu
}

func (c *counting) Predict(ctx context.Context, in []inference.Tensor) ([]inference.Tensor, error) {
	rows := -1
	if len(in) == 1 && len(in[0].Shape) > 0 {
		rows = int(in[0].Shape[0])
	}
	c.mu.Lock()
	c.calls = append(c.calls, rows)
	c.mu.Unlock()
	return c.Model.Predict(ctx, in)
}

// rowsPerCall returns the rows of each call so far.
func (c *counting) rowsPerCall() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.calls...)
}

// gated blocks every Predict until release is closed, so tests can hold
// the batcher's slots busy, and records the contexts it ran under.
type gated struct {
	inference.Model
	entered chan struct{} // receives once per call, as it starts
	release chan struct{}
	mu      sync.Mutex
	ctxs    []context.Context // guarded by mu
}

func newGated(m inference.Model) *gated {
	return &gated{Model: m, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gated) Predict(ctx context.Context, in []inference.Tensor) ([]inference.Tensor, error) {
	g.mu.Lock()
	g.ctxs = append(g.ctxs, ctx)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	return g.Model.Predict(ctx, in)
}

// pending returns the calls waiting in groups.
func (b *Model) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued
}
