package lightgbm

import (
	"context"
	"math"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

var (
	nan  = math.NaN()
	pinf = math.Inf(1)
	ninf = math.Inf(-1)
)

// The hand-built v4 models in testdata, with outputs worked out by hand
// from LightGBM's decision rules. All values are exact in binary, so the
// tolerance is 0 except where a transform is involved.
func TestHandBuilt(t *testing.T) {
	cases := []struct {
		name   string
		model  string
		params map[string]string
		rows   [][]float64
		want   [][]float64
		tol    float64
	}{{
		// Tree 0: a <= 5 ? leaf 0 : leaf 1 (missing None: NaN counts as 0).
		//   leaf 0: 0.5 + 0.25*b - 0.5*c, or leaf_value 1 if b or c is NaN
		//   leaf 1: -1 + 2*a,             or leaf_value 2 if a is NaN
		// Tree 1: a single linear leaf 0.0625 + 0.5*c, or 0.125 if c is NaN.
		name:  "linear-tree",
		model: "v4_linear.txt",
		rows: [][]float64{
			{1, 2, 4},       // (0.5 + 0.5 - 2) + (0.0625 + 2) = 1.0625
			{7, 0, 0},       // (-1 + 14) + 0.0625 = 13.0625
			{3, nan, 1},     // 1 (NaN b) + (0.0625 + 0.5) = 1.5625
			{nan, 1, 1},     // NaN a -> 0 -> left: (0.5 + 0.25 - 0.5) + 0.5625 = 0.8125
			{nan, 1, nan},   // 1 (NaN c) + 0.125 (NaN c) = 1.125
			{6, nan, nan},   // (-1 + 12) + 0.125 = 11.125
			{5, 4, 0.5},     // 5 <= 5 -> left: (0.5 + 1 - 0.25) + 0.3125 = 1.5625
			{5.5, 4, -0.25}, // right: (-1 + 11) + (0.0625 - 0.125) = 9.9375
		},
		want: [][]float64{{1.0625}, {13.0625}, {1.5625}, {0.8125}, {1.125}, {11.125}, {1.5625}, {9.9375}},
	}, {
		// Node 0: categorical on cat, missing type NaN, bitset words
		// [11 2] = categories {0, 1, 3} in word 0 and {33} in word 1;
		// in the set -> leaf 0 (10), else node 1.
		// Node 1: x <= -1, missing type Zero, default left -> leaf 1 (20),
		// else leaf 2 (30).
		name:  "categorical-and-zero-missing",
		model: "v4_categorical.txt",
		rows: [][]float64{
			{3, 5},         // in the set: 10
			{33, 5},        // in the set, second word: 10
			{1.9, 5},       // truncates to 1: 10
			{-0.5, 5},      // truncates to 0 (static_cast<int>): 10
			{0, 5},         // 10
			{32, 5},        // bit 0 of word 1 unset; x=5 > -1: 30
			{64, 5},        // word 2 is past the bitset: 30
			{-1, 5},        // negative: 30
			{nan, 5},       // NaN goes right: 30
			{5e9, 5},       // beyond int range: 30
			{pinf, -2},     // beyond int range; x=-2 <= -1: 20
			{2, 0},         // x zero is missing -> default left: 20
			{2, nan},       // NaN -> 0 -> zero -> default left: 20
			{2, 1e-36},     // |x| <= kZeroThreshold: 20
			{2, -1e-35},    // |x| <= 1.0000000180025095e-35: 20
			{2, 2e-35},     // not zero, 2e-35 > -1: 30
			{2, -1},        // -1 <= -1: 20
			{2, -0.999},    // 30
			{ninf, ninf},   // 20
			{1e-300, 1e-9}, // category 0; 10
		},
		want: [][]float64{{10}, {10}, {10}, {10}, {10}, {30}, {30}, {30}, {30}, {30}, {20}, {20}, {20}, {20}, {20}, {30}, {20}, {30}, {20}, {10}},
	}, {
		// Four stumps summed:
		//   x0 <= 0.5, missing None:                1 / 2
		//   x1 <= 0.5, missing NaN, default right: 10 / 20
		//   x2 <= -0.5, missing NaN, default left: 100 / 200
		//   x0 <= 0.5, missing Zero, default right: 1000 / 2000
		name:  "missing-types",
		model: "v4_missing.txt",
		rows: [][]float64{
			{0, 0, 0},            // 1 + 10 + 200 + 2000 (zero is missing)
			{nan, nan, nan},      // 1 (NaN->0) + 20 + 100 + 2000 (NaN->0->zero)
			{0.25, 0.7, -1},      // 1 + 20 + 100 + 1000
			{1, 0.5, -0.5},       // 2 + 10 + 100 + 2000
			{-1e-36, pinf, ninf}, // 1 + 20 + 100 + 2000
			{ninf, ninf, pinf},   // 1 + 10 + 200 + 1000
		},
		want: [][]float64{{2211}, {2121}, {1121}, {2112}, {2121}, {1211}},
	}, {
		// Random forest of two iterations, binary sigmoid:0.5:
		//   tree 0: x <= 0 ? -1 : 3; tree 1: 1.
		//   x=-1: mean 0 -> 1/(1+exp(0)) = 0.5
		//   x=1:  mean 2 -> 1/(1+exp(-1)) = 0.7310585786300049
		name:  "random-forest",
		model: "v4_rf_binary.txt",
		rows:  [][]float64{{-1}, {1}, {nan}, {0}},
		want:  [][]float64{{0.5}, {0.7310585786300049}, {0.5}, {0.5}},
		tol:   1e-15,
	}, {
		name:   "random-forest-raw",
		model:  "v4_rf_binary.txt",
		params: map[string]string{"raw_score": "true"},
		rows:   [][]float64{{-1}, {1}},
		want:   [][]float64{{0}, {2}},
	}, {
		// One iteration of two single-leaf trees, multiclassova sigmoid:2:
		//   class 0: 1/(1+exp(-2*0.5)) = 0.7310585786300049
		//   class 1: 1/(1+exp(2*0.25)) = 0.3775406687981454
		name:  "multiclassova",
		model: "v4_multiclassova.txt",
		rows:  [][]float64{{0}, {nan}},
		want:  [][]float64{{0.7310585786300049, 0.3775406687981454}, {0.7310585786300049, 0.3775406687981454}},
		tol:   1e-15,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := loadReference(t, reference{model: c.model, params: c.params})
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: c.rows, Want: c.want, Tol: c.tol})
		})
	}
}

// TestSignature checks the signature read from the file and the caller's
// overrides.
func TestSignature(t *testing.T) {
	ctx := context.Background()
	m, err := Format{}.Load(ctx, readFile(t, "v4_categorical.txt"), inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig := m.Signature()
	in, out := sig.Inputs[0], sig.Outputs[0]
	if in.Name != "input" || in.Datatype != inference.FP64 || !in.AllowMissing || len(in.Shape) != 2 || in.Shape[0] != -1 || in.Shape[1] != 2 {
		t.Errorf("input = %+v, want input FP64 [-1 2] allowing missing", in)
	}
	if in.Features[0] != (inference.Feature{Name: "cat", Type: "categorical"}) || in.Features[1] != (inference.Feature{Name: "x", Type: "float"}) {
		t.Errorf("features = %+v, want cat (categorical), x (float)", in.Features)
	}
	if out.Name != "predict" || len(out.Shape) != 1 || out.Labels != nil {
		t.Errorf("output = %+v, want predict [-1]", out)
	}

	mc, err := Format{}.Load(ctx, readFile(t, "lgmulticlass.model"), inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out = mc.Signature().Outputs[0]
	if out.Name != "probabilities" || len(out.Shape) != 2 || out.Shape[1] != 5 || len(out.Labels) != 5 || out.Labels[4] != "4" {
		t.Errorf("multiclass output = %+v, want probabilities [-1 5] labelled 0..4", out)
	}
	raw, err := Format{}.Load(ctx, readFile(t, "lgmulticlass.model"), inference.LoadOptions{Params: map[string]string{"raw_score": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Signature().Outputs[0].Name; got != "scores" {
		t.Errorf("raw multiclass output name = %q, want scores", got)
	}

	user := &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "x", Features: []inference.Feature{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}}}},
		Outputs: []inference.TensorSpec{{Name: "p", Labels: []string{"v", "w", "x", "y", "z"}}},
	}
	mu, err := Format{}.Load(ctx, readFile(t, "lgmulticlass.model")[:], inference.LoadOptions{Signature: user})
	if err == nil {
		t.Fatalf("Load with 5 user features for a 28-feature model = %v, want an error", mu.Signature())
	}
	user.Inputs[0].Features = nil
	mu, err = Format{}.Load(ctx, readFile(t, "lgmulticlass.model"), inference.LoadOptions{Signature: user})
	if err != nil {
		t.Fatal(err)
	}
	if s := mu.Signature(); s.Inputs[0].Name != "x" || len(s.Inputs[0].Features) != 28 || s.Outputs[0].Name != "p" || s.Outputs[0].Labels[0] != "v" {
		t.Errorf("signature with overrides = %+v", s)
	}
	// The renamed input is the one Predict accepts.
	if _, err := mu.Predict(ctx, []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{1, 28}, F64: make([]float64, 28)}}); err == nil {
		t.Error("Predict with the old input name succeeded, want an InputError")
	}
	if _, err := mu.Predict(ctx, []inference.Tensor{{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 28}, F64: make([]float64, 28)}}); err != nil {
		t.Errorf("Predict with the new input name: %v", err)
	}
}

// TestConvert checks each objective's transform on hand-computed values.
func TestConvert(t *testing.T) {
	cases := []struct {
		objective string
		in, want  []float64
	}{
		{"regression", []float64{-3}, []float64{-3}},
		{"regression sqrt", []float64{-3}, []float64{-9}},
		{"regression_l1 sqrt", []float64{2.5}, []float64{6.25}},
		{"quantile", []float64{1.5}, []float64{1.5}},
		{"huber sqrt", []float64{-3}, []float64{-3}}, // huber ignores sqrt
		{"fair", []float64{7}, []float64{7}},
		{"mape sqrt", []float64{0}, []float64{0}},
		{"lambdarank", []float64{-0.5}, []float64{-0.5}},
		{"rank_xendcg", []float64{4}, []float64{4}},
		{"custom", []float64{1, 2}, []float64{1, 2}},
		{"", []float64{9}, []float64{9}},
		{"poisson", []float64{1}, []float64{math.E}},
		{"gamma", []float64{0}, []float64{1}},
		{"tweedie", []float64{math.Ln2}, []float64{2}},
		{"binary sigmoid:1", []float64{0}, []float64{0.5}},
		{"binary sigmoid:2", []float64{math.Ln2 / 2}, []float64{2.0 / 3}}, // 1/(1+1/2)
		{"cross_entropy", []float64{math.Ln2}, []float64{2.0 / 3}},
		{"xentropy", []float64{0}, []float64{0.5}},
		{"cross_entropy_lambda", []float64{0}, []float64{math.Ln2}},
		{"multiclass num_class:3", []float64{0, math.Ln2, 2 * math.Ln2}, []float64{1.0 / 7, 2.0 / 7, 4.0 / 7}},
		{"multiclassova num_class:2 sigmoid:1", []float64{0, math.Ln2}, []float64{0.5, 2.0 / 3}},
	}
	for _, c := range cases {
		o, err := parseObjective(c.objective)
		if err != nil {
			t.Errorf("parseObjective(%q) = %v", c.objective, err)
			continue
		}
		got := append([]float64(nil), c.in...)
		o.convert(got)
		for i := range got {
			if !inferencetest.Close(got[i], c.want[i], 1e-15) {
				t.Errorf("%q: convert(%v) = %v, want %v", c.objective, c.in, got, c.want)
				break
			}
		}
	}
}
