package linear

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// expected is a NAME.expected.json file written by testdata/gen.py.
type expected struct {
	Model        string      `json:"model"`
	Data         string      `json:"data"`
	Sklearn      string      `json:"sklearn"`
	Rows         int         `json:"rows"`
	Predict      []any       `json:"predict"`
	PredictProba [][]float64 `json:"predict_proba"`
}

var cases = []string{"diabetes_regression", "breast_cancer_binary", "iris_multinomial", "iris_ovr", "iris2_multinomial"}

// TestScikitLearn checks every row of every model gen.py trained against
// scikit-learn's own predict (regression) or predict_proba (classifiers),
// and that the most probable class is scikit-learn's predict.
func TestScikitLearn(t *testing.T) {
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			var exp expected
			if err := json.Unmarshal(readFile(t, name+".expected.json"), &exp); err != nil {
				t.Fatal(err)
			}
			m := load(t, exp.Model)
			sig := m.Signature()
			in, _ := sig.TabularInput()
			header, rows := readCSV(t, exp.Data)
			if len(rows) != exp.Rows {
				t.Fatalf("%s has %d rows, expected file says %d", exp.Data, len(rows), exp.Rows)
			}
			for i, f := range in.Features {
				if header[i] != f.Name {
					t.Fatalf("CSV column %d is %q, model feature is %q", i, header[i], f.Name)
				}
			}
			var want [][]float64
			if exp.PredictProba != nil {
				want = exp.PredictProba
			} else {
				for _, v := range exp.Predict {
					want = append(want, []float64{v.(float64)})
				}
			}
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: want, Tol: 1e-6})

			out := predictAll(t, m, rows)
			worst := 0.0
			for i := range want {
				for j := range want[i] {
					worst = math.Max(worst, math.Abs(out[i][j]-want[i][j]))
				}
			}
			t.Logf("%d rows, largest difference from scikit-learn %s: %.3g", len(rows), exp.Sklearn, worst)
			if exp.PredictProba == nil {
				return
			}
			labels := sig.Outputs[0].Labels
			for i, p := range out {
				best := 0
				for j := range p {
					if p[j] > p[best] {
						best = j
					}
				}
				if labels[best] != exp.Predict[i] {
					t.Errorf("row %d: most probable class %q, scikit-learn predicts %q", i, labels[best], exp.Predict[i])
				}
			}
		})
	}
}

func TestSignature(t *testing.T) {
	m := load(t, "iris_multinomial.json")
	sig := m.Signature()
	in, out := sig.Inputs[0], sig.Outputs[0]
	if in.Name != "input" || in.Datatype != inference.FP64 || in.AllowMissing || in.Shape[0] != -1 || in.Shape[1] != 4 || in.Features[2] != (inference.Feature{Name: "petal_length", Type: "float"}) {
		t.Errorf("input = %+v", in)
	}
	if out.Name != "probabilities" || out.Shape[1] != 3 || out.Labels[2] != "virginica" {
		t.Errorf("output = %+v", out)
	}
	if out := load(t, "diabetes_regression.json").Signature().Outputs[0]; out.Name != "predict" || len(out.Shape) != 1 || out.Labels != nil {
		t.Errorf("regression output = %+v", out)
	}
	if out := load(t, "breast_cancer_binary.json").Signature().Outputs[0]; out.Name != "probabilities" || out.Shape[1] != 2 || out.Labels[0] != "benign" {
		t.Errorf("binary output = %+v, want probabilities [-1 2] labelled benign, malignant", out)
	}

	user := &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "flower"}},
		Outputs: []inference.TensorSpec{{Name: "species", Labels: []string{"a", "b", "c"}}},
	}
	mu, err := Format{}.Load(context.Background(), readFile(t, "iris_multinomial.json"), inference.LoadOptions{Signature: user})
	if err != nil {
		t.Fatal(err)
	}
	if s := mu.Signature(); s.Inputs[0].Name != "flower" || s.Inputs[0].Features[0].Name != "sepal_length" || s.Outputs[0].Name != "species" || s.Outputs[0].Labels[1] != "b" {
		t.Errorf("signature with overrides = %+v", s)
	}
}

// TestMissing checks that NaN and infinite inputs are refused with an
// InputError naming the feature.
func TestMissing(t *testing.T) {
	m := load(t, "iris_ovr.json")
	x := []float64{5.1, 3.5, 1.4, 0.2, 6, 3, math.NaN(), 1.8}
	_, err := m.Predict(context.Background(), []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{2, 4}, F64: x}})
	var ie *inference.InputError
	if !errors.As(err, &ie) || ie.Field != "petal_length" || ie.Msg != "row 1: value is missing (NaN); linear models need a finite value for every feature" {
		t.Errorf("Predict(NaN) error = %#v, want an InputError for petal_length in row 1", err)
	}
	x[6] = math.Inf(-1)
	x[0] = math.Inf(1)
	_, err = m.Predict(context.Background(), []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{2, 4}, F64: x}})
	if !errors.As(err, &ie) || ie.Field != "sepal_length" || ie.Msg != "row 0: value is infinite; linear models need a finite value for every feature" {
		t.Errorf("Predict(Inf) error = %#v, want an InputError for sepal_length in row 0", err)
	}
	f32 := []float32{1, 2, 3, float32(math.NaN())}
	_, err = m.Predict(context.Background(), []inference.Tensor{{Name: "input", Datatype: inference.FP32, Shape: []int64{4}, F32: f32}})
	if !errors.As(err, &ie) || ie.Field != "petal_width" {
		t.Errorf("Predict(FP32 NaN) error = %v, want an InputError for petal_width", err)
	}
	for name, in := range map[string][]inference.Tensor{
		"two inputs": {{Name: "input"}, {Name: "input"}},
		"wrong name": {{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 4}, F64: make([]float64, 4)}},
	} {
		if _, err := m.Predict(context.Background(), in); !errors.As(err, &ie) {
			t.Errorf("%s: Predict error = %v, want an InputError", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{1, 4}, F64: make([]float64, 4)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict(canceled) = %v, want context.Canceled", err)
	}
}

// TestHandComputed checks each link on a two-feature model worked out by
// hand.
func TestHandComputed(t *testing.T) {
	doc := func(task, link, classes, intercept, coef string) []byte {
		s := `{"format":"sluice.linear/v1","task":"` + task + `","link":"` + link + `",
			"features":[{"name":"a"},{"name":"b","type":"int"}],`
		if classes != "" {
			s += `"classes":` + classes + `,`
		}
		return []byte(s + `"intercept":` + intercept + `,"coefficients":` + coef + `}`)
	}
	ln2 := math.Ln2
	cases := []struct {
		name  string
		model []byte
		rows  [][]float64
		want  [][]float64
	}{
		// 0.5 + 2a - b
		{"regression", doc("regression", "identity", "", "[0.5]", "[[2,-1]]"),
			[][]float64{{1, 1}, {0, 0}, {-2, 3}}, [][]float64{{1.5}, {0.5}, {-6.5}}},
		// z = a*ln2: a=1 gives p(yes) = 1/(1+1/2) = 2/3
		{"binary", doc("binary", "logit", `["no","yes"]`, "[0]", "[[1,0]]"),
			[][]float64{{0, 5}, {ln2, 0}}, [][]float64{{0.5, 0.5}, {1.0 / 3, 2.0 / 3}}},
		// scores (0, a, 2a) with a = ln2: exp gives 1, 2, 4 over 7
		{"softmax", doc("multiclass", "softmax", `["x","y","z"]`, "[0,0,0]", "[[0,0],[1,0],[2,0]]"),
			[][]float64{{ln2, 1}, {0, 0}}, [][]float64{{1.0 / 7, 2.0 / 7, 4.0 / 7}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}},
		// sigmoids (1/2, 2/3, 2/3) normalised by 11/6: 3/11, 4/11, 4/11
		{"ovr", doc("multiclass", "ovr", `["x","y","z"]`, "[0,0,0]", "[[0,0],[1,0],[0,1]]"),
			[][]float64{{ln2, ln2}}, [][]float64{{3.0 / 11, 4.0 / 11, 4.0 / 11}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Format{}.Load(context.Background(), c.model, inference.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: c.rows, Want: c.want, Tol: 1e-15})
		})
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{string(readFile(t, "iris_ovr.json")), true},
		{`{"format": "sluice.linear/v2"}`, true},
		{` {"task": "x", "format": "sluice.linear/v1"}`, true},
		{`{"format": "sluice.other/v1", "note": "sluice.linear/v1"}`, false},
		{`{"nested": {"format": "sluice.linear/v1"}}`, false},
		{`["sluice.linear/v1"]`, false},
		{"tree\nversion=v4\n", false},
		{`{"learner": {}, "version": [2, 0]}`, false},
		{"", false},
	}
	for _, c := range cases {
		if got := (Format{}).Detect([]byte(c.in)); got != c.want {
			t.Errorf("Detect(%.40q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func load(t testing.TB, name string) inference.Model {
	t.Helper()
	m, err := Format{}.Load(context.Background(), readFile(t, name), inference.LoadOptions{})
	if err != nil {
		t.Fatalf("Load(%s) = %v", name, err)
	}
	return m
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readCSV reads a header of feature names and rows of numbers.
func readCSV(t testing.TB, name string) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float64, len(records)-1)
	for i, rec := range records[1:] {
		rows[i] = make([]float64, len(rec))
		for j, s := range rec {
			if rows[i][j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s:%d: %v", name, i+2, err)
			}
		}
	}
	return records[0], rows
}

func predictAll(t testing.TB, m inference.Model, rows [][]float64) [][]float64 {
	t.Helper()
	cols := len(rows[0])
	flat := make([]float64, 0, len(rows)*cols)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	sig := m.Signature()
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: sig.Inputs[0].Name, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(cols)}, F64: flat}})
	if err != nil {
		t.Fatal(err)
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
