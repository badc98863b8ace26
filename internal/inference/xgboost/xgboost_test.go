package xgboost

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// examplesDir holds the repository's example models.
const examplesDir = "../../../examples/xgboost"

// fixture is a model with rows and XGBoost's own predictions for them.
type fixture struct {
	model  []byte
	header []string
	rows   [][]float64
	want   [][]float64
	expect expected
}

// expected is the NAME.expected.json that gen.py (and the examples) write.
type expected struct {
	Model       string            `json:"model"`
	Objective   string            `json:"objective"`
	Rows        int               `json:"rows"`
	Predictions []json.RawMessage `json:"predictions"`
}

// readFixture reads dir/name.{json|ubj,csv,expected.json}.
func readFixture(t testing.TB, dir, name string) fixture {
	t.Helper()
	var fx fixture
	raw, err := os.ReadFile(filepath.Join(dir, name+".expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &fx.expect); err != nil {
		t.Fatalf("%s.expected.json: %v", name, err)
	}
	modelFile := fx.expect.Model
	if modelFile == "" {
		modelFile = name + ".json"
	}
	if fx.model, err = os.ReadFile(filepath.Join(dir, modelFile)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s.csv: %v", name, err)
	}
	fx.header = records[0]
	for i, rec := range records[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s.csv row %d column %d: %v", name, i+1, j, err)
			}
		}
		fx.rows = append(fx.rows, row)
	}
	for i, p := range fx.expect.Predictions {
		var one float64
		var many []float64
		if err := json.Unmarshal(p, &one); err == nil {
			many = []float64{one}
		} else if err := json.Unmarshal(p, &many); err != nil {
			t.Fatalf("%s.expected.json predictions[%d]: %v", name, i, err)
		}
		fx.want = append(fx.want, many)
	}
	if len(fx.rows) != fx.expect.Rows || len(fx.want) != fx.expect.Rows {
		t.Fatalf("%s: %d csv rows and %d predictions, want %d", name, len(fx.rows), len(fx.want), fx.expect.Rows)
	}
	return fx
}

func mustLoad(t testing.TB, artifact []byte, opts inference.LoadOptions) *Booster {
	t.Helper()
	m, err := Format{}.Load(context.Background(), artifact, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m.(*Booster)
}

// generatedCases lists the fixtures gen.py wrote.
func generatedCases(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".expected.json"))
	}
	if len(names) < 10 {
		t.Fatalf("found %d generated cases in testdata; run gen.py", len(names))
	}
	return names
}

func TestExamples(t *testing.T) {
	for _, name := range []string{"breast_cancer", "diabetes"} {
		t.Run(name, func(t *testing.T) {
			fx := readFixture(t, examplesDir, name)
			m := mustLoad(t, fx.model, inference.LoadOptions{})
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: fx.rows, Want: fx.want, Tol: 1e-6})
		})
	}
}

func TestGenerated(t *testing.T) {
	for _, name := range generatedCases(t) {
		t.Run(name, func(t *testing.T) {
			fx := readFixture(t, "testdata", name)
			m := mustLoad(t, fx.model, inference.LoadOptions{})
			if got := m.obj.name; got != fx.expect.Objective {
				t.Errorf("objective = %q, want %q", got, fx.expect.Objective)
			}
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: fx.rows, Want: fx.want, Tol: 1e-6})
		})
	}
}

// TestExactFloat32 checks the stronger property behind the 1e-6
// tolerance: for objectives whose output is the float32 margin itself,
// the runtime reproduces XGBoost's float32 sums bit for bit.
func TestExactFloat32(t *testing.T) {
	for _, name := range []string{"deep", "missing", "categorical", "categorical_ubj", "multi_target", "dart", "rank_pairwise", "iris_softmax"} {
		t.Run(name, func(t *testing.T) {
			fx := readFixture(t, "testdata", name)
			m := mustLoad(t, fx.model, inference.LoadOptions{})
			if m.obj.out != outIdentity && m.obj.out != outSoftmax && m.obj.out != outSigmoid {
				t.Skip("transform is not exact")
			}
			out := predictRows(t, m, fx.rows)
			for i, want := range fx.want {
				for j, w := range want {
					got := out[i*len(want)+j]
					if m.obj.out == outSigmoid {
						continue
					}
					if got != float32(w) {
						t.Errorf("row %d value %d = %v, want exactly %v", i, j, got, float32(w))
					}
				}
			}
		})
	}
}

func predictRows(t testing.TB, m inference.Model, rows [][]float64) []float32 {
	t.Helper()
	cols := len(rows[0])
	flat := make([]float32, 0, len(rows)*cols)
	for _, r := range rows {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	name := m.Signature().Inputs[0].Name
	out, err := m.Predict(context.Background(), []inference.Tensor{{
		Name: name, Datatype: inference.FP32, Shape: []int64{int64(len(rows)), int64(cols)}, F32: flat,
	}})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	return out[0].F32
}

func TestSignature(t *testing.T) {
	fx := readFixture(t, examplesDir, "breast_cancer")
	m := mustLoad(t, fx.model, inference.LoadOptions{})
	sig := m.Signature()
	var names []string
	for _, f := range sig.Inputs[0].Features {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff(fx.header, names); diff != "" {
		t.Errorf("feature names differ from the CSV header (-csv +got):\n%s", diff)
	}
	want := inference.Signature{
		Inputs: []inference.TensorSpec{{
			Name: "input", Datatype: inference.FP32, Shape: []int64{-1, 30},
			Features: sig.Inputs[0].Features, AllowMissing: true,
		}},
		Outputs: []inference.TensorSpec{{Name: "predict", Datatype: inference.FP32, Shape: []int64{-1}}},
	}
	if diff := cmp.Diff(want, sig); diff != "" {
		t.Errorf("Signature() mismatch (-want +got):\n%s", diff)
	}

	t.Run("softprob", func(t *testing.T) {
		m := mustLoad(t, readFixture(t, "testdata", "iris_softprob").model, inference.LoadOptions{})
		got := m.Signature().Outputs
		want := []inference.TensorSpec{{Name: "probabilities", Datatype: inference.FP32, Shape: []int64{-1, 3}, Labels: []string{"0", "1", "2"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outputs mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("multi-target", func(t *testing.T) {
		m := mustLoad(t, readFixture(t, "testdata", "multi_target").model, inference.LoadOptions{})
		if got := m.Signature().Outputs[0].Shape; !cmp.Equal(got, []int64{-1, 2}) {
			t.Errorf("output shape = %v, want [-1 2]", got)
		}
	})
	t.Run("categorical-types", func(t *testing.T) {
		m := mustLoad(t, readFixture(t, "testdata", "categorical").model, inference.LoadOptions{})
		want := []inference.Feature{{Name: "color", Type: "categorical"}, {Name: "size", Type: "float"}, {Name: "shape", Type: "categorical"}}
		if diff := cmp.Diff(want, m.Signature().Inputs[0].Features); diff != "" {
			t.Errorf("features mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("no-names", func(t *testing.T) {
		m := mustLoad(t, readFixture(t, "testdata", "iris_softmax").model, inference.LoadOptions{})
		want := []inference.Feature{{Name: "f0"}, {Name: "f1"}, {Name: "f2"}, {Name: "f3"}}
		if diff := cmp.Diff(want, m.Signature().Inputs[0].Features); diff != "" {
			t.Errorf("features mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestSignatureOverride(t *testing.T) {
	fx := readFixture(t, "testdata", "iris_softmax")
	features := []inference.Feature{{Name: "sl"}, {Name: "sw"}, {Name: "pl"}, {Name: "pw"}}
	t.Run("names", func(t *testing.T) {
		m := mustLoad(t, fx.model, inference.LoadOptions{Signature: &inference.Signature{
			Inputs: []inference.TensorSpec{{Name: "iris", Features: features}},
		}})
		in := m.Signature().Inputs[0]
		if in.Name != "iris" || !cmp.Equal(in.Features, features) {
			t.Errorf("input = %+v, want name iris and features %v", in, features)
		}
		inferencetest.Run(t, inferencetest.Case{Model: m, Rows: fx.rows, Want: fx.want, Tol: 1e-6})
	})
	t.Run("labels", func(t *testing.T) {
		sp := readFixture(t, "testdata", "iris_softprob")
		labels := []string{"setosa", "versicolor", "virginica"}
		m := mustLoad(t, sp.model, inference.LoadOptions{Signature: &inference.Signature{
			Inputs:  []inference.TensorSpec{{}},
			Outputs: []inference.TensorSpec{{Labels: labels}},
		}})
		if got := m.Signature().Outputs[0].Labels; !cmp.Equal(got, labels) {
			t.Errorf("labels = %v, want %v", got, labels)
		}
	})
	bad := []struct {
		name string
		sig  inference.Signature
		want string
	}{
		{"too-few-features", inference.Signature{Inputs: []inference.TensorSpec{{Features: features[:3]}}}, "signature.inputs[0].features: has 3 features, the model has 4"},
		{"two-inputs", inference.Signature{Inputs: make([]inference.TensorSpec, 2)}, "signature.inputs: has 2 inputs"},
		{"duplicate-names", inference.Signature{Inputs: []inference.TensorSpec{{Features: []inference.Feature{{Name: "a"}, {Name: "a"}, {Name: "b"}, {Name: "c"}}}}}, "appears twice"},
		{"labels", inference.Signature{Inputs: []inference.TensorSpec{{}}, Outputs: []inference.TensorSpec{{Labels: []string{"a", "b"}}}}, "has 2 labels"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Format{}.Load(context.Background(), fx.model, inference.LoadOptions{Signature: &tc.sig})
			if !errors.Is(err, inference.ErrInvalidOptions) || errors.Is(err, inference.ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an invalid-options error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadOptions(t *testing.T) {
	fx := readFixture(t, examplesDir, "breast_cancer")
	for _, opts := range []inference.LoadOptions{{Threads: -1}, {Params: map[string]string{"nthread": "2"}}} {
		if _, err := (Format{}).Load(context.Background(), fx.model, opts); !errors.Is(err, inference.ErrInvalidOptions) {
			t.Errorf("Load(%+v) = %v, want an error wrapping ErrInvalidOptions", opts, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Format{}).Load(ctx, fx.model, inference.LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled) = %v, want context.Canceled", err)
	}
}

// TestThreads checks that splitting a batch across goroutines changes
// nothing, and that a cancelled context stops Predict.
func TestThreads(t *testing.T) {
	fx := readFixture(t, examplesDir, "breast_cancer")
	var rows [][]float64
	for len(rows) < 5000 {
		rows = append(rows, fx.rows...)
	}
	one := predictRows(t, mustLoad(t, fx.model, inference.LoadOptions{Threads: 1}), rows)
	for _, threads := range []int{2, 3, 8} {
		got := predictRows(t, mustLoad(t, fx.model, inference.LoadOptions{Threads: threads}), rows)
		if diff := cmp.Diff(one, got); diff != "" {
			t.Errorf("Threads %d differs from Threads 1:\n%s", threads, diff)
		}
	}
	m := mustLoad(t, fx.model, inference.LoadOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := inference.Tensor{Name: "input", Datatype: inference.FP32, Shape: []int64{1, 30}, F32: make([]float32, 30)}
	if _, err := m.Predict(ctx, []inference.Tensor{in}); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict(cancelled) = %v, want context.Canceled", err)
	}
	in.Name = "other"
	var ie *inference.InputError
	if _, err := m.Predict(context.Background(), []inference.Tensor{in}); !errors.As(err, &ie) {
		t.Errorf("Predict(wrong name) = %v, want *inference.InputError", err)
	}
}

func TestDetect(t *testing.T) {
	yes := []string{examplesDir + "/breast_cancer.json", examplesDir + "/diabetes.json", "testdata/iris_softprob_ubj.ubj", "testdata/categorical_ubj.ubj", "testdata/gblinear.json"}
	for _, path := range yes {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !(Format{}).Detect(data) {
			t.Errorf("Detect(%s) = false, want true", path)
		}
	}
	csvData, err := os.ReadFile(examplesDir + "/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	no := map[string][]byte{
		"empty":    nil,
		"csv":      csvData,
		"json":     []byte(`{"inputs": [{"name": "x"}]}`),
		"lightgbm": []byte("tree\nversion=v3\nnum_class=1\n"),
		"onnx":     {0x08, 0x07, 0x12, 0x04},
		"array":    []byte(`[{"learner": {}}]`),
	}
	for name, data := range no {
		if (Format{}).Detect(data) {
			t.Errorf("Detect(%s) = true, want false", name)
		}
	}
}

// TestTinyModel checks the split rules on a hand-written model: x < cond
// goes left, x >= cond right, NaN to the default side.
func TestTinyModel(t *testing.T) {
	m := mustLoad(t, []byte(tinyModel), inference.LoadOptions{})
	nan := math.NaN()
	rows := [][]float64{{0, 0.3}, {0, 0.5}, {0, 0.7}, {0, nan}, {5, math.Inf(-1)}, {5, math.Inf(1)}}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	want := [][]float64{{sig(-1)}, {sig(1)}, {sig(1)}, {sig(-1)}, {sig(-1)}, {sig(1)}}
	inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: want, Tol: 1e-6})
}

// tinyModel is a one-split binary:logistic model on feature b: b < 0.5
// (or missing) gives margin -1, else +1; base_score 0.5 is margin 0.
const tinyModel = `{"learner":{"attributes":{},"feature_names":["a","b"],"feature_types":[],
"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1","size_leaf_vector":"0"},
"tree_info":[0],"trees":[{"id":0,"left_children":[1,-1,-1],"right_children":[2,-1,-1],
"split_indices":[1,0,0],"split_conditions":[5E-1,-1E0,1E0],"default_left":[1,0,0],"split_type":[0,0,0],
"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],
"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}}]},"name":"gbtree"},
"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},
"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`

// TestKernelModes checks that the lock-step and walking kernels, and
// blocks of every size, give the same bits on every fixture.
func TestKernelModes(t *testing.T) {
	names := append(generatedCases(t), "breast_cancer", "diabetes")
	for _, name := range names {
		dir := "testdata"
		if name == "breast_cancer" || name == "diabetes" {
			dir = examplesDir
		}
		fx := readFixture(t, dir, name)
		m := mustLoad(t, fx.model, inference.LoadOptions{Threads: 1})
		if m.forest == nil {
			continue
		}
		want := predictRows(t, m, fx.rows)
		for _, mode := range []string{"walk", "lockstep"} {
			for tr := range m.forest.steps {
				m.forest.steps[tr] = -1
				if mode == "lockstep" {
					m.forest.steps[tr] = m.forest.depth[tr]
				}
			}
			if got := predictRows(t, m, fx.rows); !cmp.Equal(got, want, cmpopts.EquateNaNs()) {
				t.Errorf("%s: %s kernel differs:\n%s", name, mode, cmp.Diff(want, got, cmpopts.EquateNaNs()))
			}
			for r := range fx.rows {
				got := predictRows(t, m, fx.rows[r:r+1])
				if !cmp.Equal(got, want[r*m.outCols:(r+1)*m.outCols], cmpopts.EquateNaNs()) {
					t.Errorf("%s: %s kernel, row %d alone = %v, in a batch %v", name, mode, r, got, want[r*m.outCols:(r+1)*m.outCols])
				}
			}
		}
	}
}
