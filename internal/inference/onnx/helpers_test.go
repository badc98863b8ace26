//go:build cgo

package onnx

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// repoRoot returns the module root, found by walking up to go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// testLibrary returns the ONNX Runtime library the tests use:
// $SLUICE_ONNXRUNTIME_LIB, else the one scripts/onnxruntime.sh fetches. A
// missing library skips the test, and fails it when $CI is set.
func testLibrary(t testing.TB) string {
	t.Helper()
	lib := os.Getenv(EnvLibrary)
	if lib == "" {
		lib = filepath.Join(repoRoot(t), "third_party", "onnxruntime", "libonnxruntime.so.1.24.1")
	}
	if _, err := os.Stat(lib); err != nil {
		msg := "ONNX Runtime library not found (" + err.Error() + "): run scripts/onnxruntime.sh or set " + EnvLibrary
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return lib
}

// testFormat returns the format with the test library.
func testFormat(t testing.TB) Format {
	t.Helper()
	return New(Options{LibraryPath: testLibrary(t)})
}

// load loads a model file, failing the test on error, and closes it at the
// end of the test.
func load(t testing.TB, path string, opts inference.LoadOptions) *Model {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := testFormat(t).Load(context.Background(), b, opts)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = m.(*Model).Close() })
	return m.(*Model)
}

// mlpFixture is examples/onnx/breast_cancer_mlp.*: a scikit-learn MLP
// exported with skl2onnx, its CSV rows and onnxruntime's probabilities.
type mlpFixture struct {
	model    string
	features []string
	rows     [][]float64
	want     [][]float64
	input    string
	output   string
}

func readMLP(t testing.TB) mlpFixture {
	t.Helper()
	base := filepath.Join(repoRoot(t), "examples", "onnx", "breast_cancer_mlp")
	f, err := os.Open(base + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	fx := mlpFixture{model: base + ".onnx", features: recs[0]}
	for _, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatal(err)
			}
		}
		fx.rows = append(fx.rows, row)
	}
	b, err := os.ReadFile(base + ".expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Input         string      `json:"input"`
		Output        string      `json:"output"`
		Probabilities [][]float64 `json:"probabilities"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Probabilities) != len(fx.rows) {
		t.Fatalf("%d expected rows for %d CSV rows", len(exp.Probabilities), len(fx.rows))
	}
	fx.want, fx.input, fx.output = exp.Probabilities, exp.Input, exp.Output
	return fx
}

// signature gives the MLP's input the CSV's feature names.
func (fx mlpFixture) signature() *inference.Signature {
	feats := make([]inference.Feature, len(fx.features))
	for j, n := range fx.features {
		feats[j] = inference.Feature{Name: n}
	}
	return &inference.Signature{Inputs: []inference.TensorSpec{{Name: fx.input, Datatype: inference.FP32, Features: feats}}}
}
