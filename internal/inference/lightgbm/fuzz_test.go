package lightgbm

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// FuzzLoad feeds arbitrary bytes to Load. A model that loads must score
// rows of zeros, NaNs, infinities and values taken from the input without
// panicking, and give one value per output; anything that does not load
// must fail with ErrInvalidModel.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"model_simple.txt", "lg_rf_iris.model", "lg_dart_breast_cancer.v4.model", "v4_linear.txt", "v4_categorical.txt", "v4_missing.txt", "v4_rf_binary.txt", "v4_multiclassova.txt"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(small))
	for _, bad := range []string{
		"",
		"tree\n",
		"tree\nversion=v4\n",
		strings.Replace(small, "right_child=1 -3", "right_child=1 1", 1),
		strings.Replace(small, "threshold=0 0.5", "threshold=1e300 0.5", 1),
		strings.Replace(small, "cat_threshold=5", "cat_threshold=4294967295", 1),
		strings.Replace(small, "is_linear=0\nshrinkage=1\n\n\nTree=1", "is_linear=1\nleaf_const=1 2 3\nnum_features=1 0 2\nleaf_features=1 0 1\nleaf_coeff=1 2 3\nshrinkage=1\n\n\nTree=1", 1),
		small[:len(small)/2],
	} {
		f.Add([]byte(bad))
	}
	f.Fuzz(func(t *testing.T, artifact []byte) {
		m, err := Format{}.Load(context.Background(), artifact, inference.LoadOptions{Threads: 2})
		if err != nil {
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Fatalf("Load error %v does not wrap ErrInvalidModel", err)
			}
			return
		}
		sig := m.Signature()
		in, ok := sig.TabularInput()
		if !ok {
			t.Fatalf("loaded model has no tabular input: %+v", sig)
		}
		cols := len(in.Features)
		if cols > 1<<12 {
			return // scoring is tested on narrower models
		}
		fill := []float64{0, math.NaN(), math.Inf(1), math.Inf(-1), -1, 1e-36, 2.5, 1 << 31, -0.5}
		for len(artifact) >= 8 && len(fill) < 64 {
			fill = append(fill, math.Float64frombits(binary.LittleEndian.Uint64(artifact)))
			artifact = artifact[8:]
		}
		rows := len(fill)
		data := make([]float64, rows*cols)
		for r := range rows {
			for c := range cols {
				data[r*cols+c] = fill[(r+c)%len(fill)]
			}
		}
		out, err := m.Predict(context.Background(), []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{int64(rows), int64(cols)}, F64: data}})
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
		per := 1
		if len(sig.Outputs[0].Shape) == 2 {
			per = int(sig.Outputs[0].Shape[1])
		}
		if len(out) != 1 || len(out[0].F64) != rows*per {
			t.Fatalf("Predict returned %d tensors, first with %d values, want 1 with %d", len(out), len(out[0].F64), rows*per)
		}
		mm := m.(*Model)
		e, err := mm.Explain(context.Background(), []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{int64(rows), int64(cols)}, F64: data}})
		switch {
		case errors.Is(err, inference.ErrNotExplainable):
		case err != nil:
			t.Fatalf("Explain: %v", err)
		case len(e.Values) != rows*mm.numOut*(cols+1):
			t.Fatalf("Explain returned %d values, want %d", len(e.Values), rows*mm.numOut*(cols+1))
		}
	})
}

// FuzzTreeShape builds one tree from fuzzed children, features, decision
// types and thresholds, so that most inputs get past the header. Whatever
// loads must be a proper tree: every walk from the root ends at a leaf
// within num_leaves-1 steps and every leaf is reachable.
func FuzzTreeShape(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 1, 1, 2, 2, 0, 0})             // a valid 3-leaf tree
	f.Add([]byte{1, 2, 2, 0, 1, 1, 2, 2, 0, 0})             // a cycle
	f.Add([]byte{6, 5, 7, 1, 9, 2, 8, 3, 12, 4, 13, 1, 11}) // larger
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		n := 2 + int(b[0])%7 // leaves
		b = b[1:]
		next := func() int {
			if len(b) == 0 {
				return 0
			}
			v := int(b[0])
			b = b[1:]
			return v
		}
		var feat, thr, dt, left, right, leaves []string
		for range n - 1 {
			left = append(left, strconv.Itoa(next()%(2*n-1)-n))
			right = append(right, strconv.Itoa(next()%(2*n-1)-n))
			feat = append(feat, strconv.Itoa(next()%3))
			dt = append(dt, strconv.Itoa(next()%17))
			thr = append(thr, strconv.Itoa(next()%3))
		}
		for i := range n {
			leaves = append(leaves, strconv.Itoa(i))
		}
		model := "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=regression\n" +
			"feature_names=a b\nfeature_infos=[0:1] 0:1:2\n\nTree=0\nnum_leaves=" + strconv.Itoa(n) + "\nnum_cat=1\n" +
			"split_feature=" + strings.Join(feat, " ") + "\nthreshold=" + strings.Join(thr, " ") +
			"\ndecision_type=" + strings.Join(dt, " ") + "\nleft_child=" + strings.Join(left, " ") +
			"\nright_child=" + strings.Join(right, " ") + "\nleaf_value=" + strings.Join(leaves, " ") +
			"\ncat_boundaries=0 1\ncat_threshold=" + strconv.Itoa(next()) + "\nis_linear=0\nshrinkage=1\n\nend of trees\n"
		m, err := Format{}.Load(context.Background(), []byte(model), inference.LoadOptions{})
		if err != nil {
			return
		}
		tr := &m.(*Model).trees[0]
		seen := make([]bool, n)
		var walk func(node int32, depth int)
		walk = func(node int32, depth int) {
			if depth >= n {
				t.Fatalf("loaded a tree with a path longer than %d nodes:\n%s", n-1, model)
			}
			if node < 0 {
				if seen[^node] {
					t.Fatalf("loaded a tree reaching leaf %d twice:\n%s", ^node, model)
				}
				seen[^node] = true
				return
			}
			walk(tr.nodes[node].left, depth+1)
			walk(tr.nodes[node].right, depth+1)
		}
		walk(0, 0)
		for l, ok := range seen {
			if !ok {
				t.Fatalf("loaded a tree whose leaf %d is unreachable:\n%s", l, model)
			}
		}
		for _, row := range [][]float64{{0, 0}, {math.NaN(), math.NaN()}, {1, 1}, {-1, 40}, {2.5, 1e-36}} {
			if v := tr.predict(row); v != math.Trunc(v) || v < 0 || int(v) >= n {
				t.Fatalf("predict(%v) = %v, not a leaf value", row, v)
			}
		}
	})
}
