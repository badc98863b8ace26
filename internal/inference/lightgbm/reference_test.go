package lightgbm

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// reference is a LightGBM model with rows and LightGBM's own predictions
// for them; testdata/README.md says where each file comes from.
type reference struct {
	name  string
	model string
	// data is a TSV file of rows (skipLabel: its first column is the
	// label) or, with a .libsvm suffix, a LIBSVM file.
	data      string
	skipLabel bool
	// want is LightGBM's output, one row per line.
	want   string
	params map[string]string
	// convert, when set, rewrites the model before loading it.
	convert func(testing.TB, []byte) []byte
}

var references = []reference{
	{name: "v2-dart-binary", model: "lg_dart_breast_cancer.model", data: "breast_cancer_test.tsv", want: "lg_dart_breast_cancer_true_predictions.txt"},
	{name: "v4-dart-binary", model: "lg_dart_breast_cancer.v4.model", data: "breast_cancer_test.tsv", want: "lg_dart_breast_cancer_true_predictions.txt"},
	{name: "v2-multiclass", model: "lgmulticlass.model", data: "multiclass_test.tsv", skipLabel: true, want: "lgmulticlass_true_predictions.txt"},
	{name: "v2-multiclass-raw", model: "lgmulticlass.model", data: "multiclass_test.tsv", skipLabel: true, want: "lgmulticlass_true_raw_predictions.txt", params: map[string]string{"raw_score": "true"}},
	{name: "v2-categorical-multiclass-raw", model: "lg_kddcup99.model", data: "kddcup99_test.tsv", want: "lg_kddcup99_true_predictions.txt", params: map[string]string{"raw_score": "true"}},
	// The reference was written by LightGBM <= 2.2, which did not apply
	// the objective to random-forest averages; raw_score gives exactly
	// that average (see testdata/README.md).
	{name: "v2-random-forest-raw", model: "lg_rf_iris.model", data: "iris_test.libsvm", want: "lg_rf_iris_true_predictions.txt", params: map[string]string{"raw_score": "true"}},
	{name: "v3-gamma", model: "genlin_fmtp_gamma_AvgClaimAmount.model", data: "genlin_fmtp_gamma_AvgClaimAmount_features.tsv", want: "genlin_fmtp_gamma_AvgClaimAmount_true_predictions.txt"},
	{name: "v4-gamma", model: "genlin_fmtp_gamma_AvgClaimAmount.model", data: "genlin_fmtp_gamma_AvgClaimAmount_features.tsv", want: "genlin_fmtp_gamma_AvgClaimAmount_true_predictions.txt", convert: mustV4},
	{name: "v3-poisson", model: "genlin_fmtp_poisson_Frequency.model", data: "genlin_fmtp_poisson_Frequency_features.tsv", want: "genlin_fmtp_poisson_Frequency_true_predictions.txt"},
	{name: "v3-tweedie", model: "genlin_fmtp_tweedie_PurePremium.model", data: "genlin_fmtp_tweedie_PurePremium_features.tsv", want: "genlin_fmtp_tweedie_PurePremium_true_predictions.txt"},
}

// TestReferences checks every row of every reference file with the
// conformance suite at 1e-6 (the reference files carry 17 or more
// significant digits).
func TestReferences(t *testing.T) {
	for _, r := range references {
		t.Run(r.name, func(t *testing.T) {
			m := loadReference(t, r)
			sig := m.Signature()
			in, _ := sig.TabularInput()
			rows := readRows(t, r.data, r.skipLabel, len(in.Features))
			want := readMatrix(t, r.want, false)
			if len(rows) != len(want) {
				t.Fatalf("%d rows, %d predictions", len(rows), len(want))
			}
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: want, Tol: 1e-6})
			t.Logf("%d rows, largest difference from LightGBM %.3g", len(rows), maxDiff(t, m, rows, want))
		})
	}
}

func loadReference(t testing.TB, r reference) inference.Model {
	t.Helper()
	b := readFile(t, r.model)
	if r.convert != nil {
		b = r.convert(t, b)
	}
	m, err := Format{}.Load(context.Background(), b, inference.LoadOptions{Params: r.params})
	if err != nil {
		t.Fatalf("Load(%s) = %v", r.model, err)
	}
	return m
}

// maxDiff returns the largest absolute difference between the model's
// predictions and want.
func maxDiff(t *testing.T, m inference.Model, rows, want [][]float64) float64 {
	t.Helper()
	out := predictRows(t, m, rows)
	d := 0.0
	for i := range want {
		for j := range want[i] {
			d = math.Max(d, math.Abs(out[i][j]-want[i][j]))
		}
	}
	return d
}

// predictRows runs one batch and returns one output slice per row.
func predictRows(t testing.TB, m inference.Model, rows [][]float64) [][]float64 {
	t.Helper()
	sig := m.Signature()
	in, _ := sig.TabularInput()
	cols := len(in.Features)
	flat := make([]float64, 0, len(rows)*cols)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	out, err := m.Predict(context.Background(), []inference.Tensor{{
		Name: in.Name, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(cols)}, F64: flat,
	}})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	per := 1
	if len(out[0].Shape) == 2 {
		per = int(out[0].Shape[1])
	}
	res := make([][]float64, len(rows))
	for i := range res {
		res[i] = out[0].F64[i*per : (i+1)*per]
	}
	return res
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readRows reads feature rows from a TSV or LIBSVM file.
func readRows(t testing.TB, name string, skipLabel bool, cols int) [][]float64 {
	t.Helper()
	if strings.HasSuffix(name, ".libsvm") {
		return readLibSVM(t, name, cols)
	}
	rows := readMatrix(t, name, skipLabel)
	for i, r := range rows {
		if len(r) != cols {
			t.Fatalf("%s: row %d has %d values, want %d", name, i+1, len(r), cols)
		}
	}
	return rows
}

// readMatrix reads whitespace-separated numbers, one row per line.
func readMatrix(t testing.TB, name string, skipLabel bool) [][]float64 {
	t.Helper()
	var rows [][]float64
	for i, line := range strings.Split(strings.TrimSpace(string(readFile(t, name))), "\n") {
		fields := strings.Fields(line)
		if skipLabel {
			fields = fields[1:]
		}
		row := make([]float64, len(fields))
		for j, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatalf("%s:%d: %v", name, i+1, err)
			}
			row[j] = v
		}
		rows = append(rows, row)
	}
	return rows
}

// readLibSVM reads "label index:value ..." lines with 0-based indices;
// absent features are 0, as in LightGBM's sparse input.
func readLibSVM(t testing.TB, name string, cols int) [][]float64 {
	t.Helper()
	var rows [][]float64
	for i, line := range strings.Split(strings.TrimSpace(string(readFile(t, name))), "\n") {
		row := make([]float64, cols)
		for _, f := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(f, ":")
			idx, err1 := strconv.Atoi(k)
			val, err2 := strconv.ParseFloat(v, 64)
			if err1 != nil || err2 != nil || idx < 0 || idx >= cols {
				t.Fatalf("%s:%d: bad entry %q", name, i+1, f)
			}
			row[idx] = val
		}
		rows = append(rows, row)
	}
	return rows
}

// TestModelSimple checks leaves' hand-written model_simple.txt: two trees
// of the same shape,
//
//	X2 in {100} ? leaf 0 : (X1 <= 340.5 ? leaf 1 : leaf 2)
//
// with the category set as the bitset "0 0 0 16" (bit 4 of word 3 = 100).
// The raw score is the sum of the two trees' leaf values, which is also
// what leaves' lgensemble_test.go expects. NaN in X2 goes right (not in
// the set); NaN in X1 (missing type None) counts as 0, so goes left.
func TestModelSimple(t *testing.T) {
	const (
		leaf0 = 0.56697267424823339 + 0.12883103567558912
		leaf1 = 0.3584987837673016 + -0.063872842243335157
		leaf2 = 0.41213915936587919 + -0.016484332942214807
	)
	nan := math.NaN()
	rows := [][]float64{{0, 0}, {1000, 0}, {800, 0}, {800, 100}, {0, 100}, {1000, nan}, {nan, nan}, {340.5, 99.9}, {341, 100.9}}
	raw := []float64{leaf1, leaf2, leaf2, leaf0, leaf0, leaf2, leaf1, leaf1, leaf0}
	want := make([][]float64, len(raw))
	wantRaw := make([][]float64, len(raw))
	for i, r := range raw {
		wantRaw[i] = []float64{r}
		want[i] = []float64{1 / (1 + math.Exp(-r))} // binary sigmoid:1
	}
	t.Run("raw", func(t *testing.T) {
		m := loadReference(t, reference{model: "model_simple.txt", params: map[string]string{"raw_score": "true"}})
		inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: wantRaw, Tol: 1e-15})
	})
	t.Run("sigmoid", func(t *testing.T) {
		m := loadReference(t, reference{model: "model_simple.txt"})
		inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: want, Tol: 1e-15})
	})
}

// mustV4 converts a model file to format v4 (see toV4).
func mustV4(t testing.TB, b []byte) []byte {
	t.Helper()
	v4, err := toV4(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(v4, []byte("\nversion=v4\n")) {
		t.Fatal("toV4 did not set version=v4")
	}
	return v4
}
