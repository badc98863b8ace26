package lightgbm

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// bruteExpect is E[tree(x) | x_S] under the path-dependent model TreeSHAP
// uses: a split on a feature in S follows the row, any other split
// averages both branches weighed by their training counts.
func (t *tree) bruteExpect(c int32, row []float64, inS func(int32) bool) float64 {
	if c < 0 {
		return t.leafValue[^c]
	}
	n := &t.nodes[c]
	if inS(n.feature) {
		return t.bruteExpect(t.decide(n, row), row, inS)
	}
	l, r := t.bruteExpect(n.left, row, inS), t.bruteExpect(n.right, row, inS)
	return (t.count(n.left)*l + t.count(n.right)*r) / t.count(c)
}

// bruteShapley adds to phi the tree's exact Shapley values for row by
// enumerating every coalition of the features the tree splits on, and its
// expected value to phi[len(row)]. It is exponential in the number of
// features used and serves only as the reference.
func (t *tree) bruteShapley(row, phi []float64) {
	if len(t.nodes) == 0 {
		phi[len(row)] += t.leafValue[0]
		return
	}
	var used []int32
	index := map[int32]int{}
	for _, n := range t.nodes {
		if _, ok := index[n.feature]; !ok {
			index[n.feature] = len(used)
			used = append(used, n.feature)
		}
	}
	m := len(used)
	v := make([]float64, 1<<m)
	for s := range v {
		v[s] = t.bruteExpect(0, row, func(f int32) bool { return s>>index[f]&1 != 0 })
	}
	fact := make([]float64, m+1)
	fact[0] = 1
	for i := 1; i <= m; i++ {
		fact[i] = fact[i-1] * float64(i)
	}
	for i, f := range used {
		for s := range v {
			if s>>i&1 != 0 {
				continue
			}
			size := bits.OnesCount(uint(s))
			w := fact[size] * fact[m-size-1] / fact[m]
			phi[f] += w * (v[s|1<<i] - v[s])
		}
	}
	phi[len(row)] += v[0]
}

// randomRows draws rows that reach every branch: each value is a split
// threshold of its feature (or just above it), a small category, zero or
// missing.
func randomRows(m *Model, n int, seed uint64) [][]float64 {
	cand := make([][]float64, m.numFeatures)
	for i := range m.trees {
		for _, nd := range m.trees[i].nodes {
			f := nd.feature
			if nd.flags&flagCategorical != 0 {
				for c := range 8 {
					cand[f] = append(cand[f], float64(c))
				}
				continue
			}
			cand[f] = append(cand[f], nd.threshold, math.Nextafter(nd.threshold, math.Inf(1)))
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]float64, n)
	for r := range rows {
		row := make([]float64, m.numFeatures)
		for j := range row {
			switch k := rng.IntN(10); {
			case k == 0:
				row[j] = math.NaN()
			case k == 1 || len(cand[j]) == 0:
				row[j] = 0
			default:
				row[j] = cand[j][rng.IntN(len(cand[j]))]
			}
		}
		rows[r] = row
	}
	return rows
}

// explainModels are the models checked against brute-force Shapley values.
var explainModels = []struct {
	name, file string
	params     map[string]string
}{
	{"dart-binary", "lg_dart_breast_cancer.model", nil},
	{"multiclass", "lgmulticlass.model", map[string]string{"raw_score": "true"}},
	{"categorical-multiclass", "lg_kddcup99.model", map[string]string{"raw_score": "true"}},
	{"random-forest", "lg_rf_iris.model", map[string]string{"raw_score": "true"}},
	{"gamma", "genlin_fmtp_gamma_AvgClaimAmount.model", map[string]string{"raw_score": "true"}},
	{"missing", "v4_missing.txt", nil},
	{"categorical", "v4_categorical.txt", nil},
	{"multiclassova", "v4_multiclassova.txt", nil},
	{"rf-binary", "v4_rf_binary.txt", nil},
	{"simple", "model_simple.txt", nil},
}

// TestExplainMatchesBruteForce checks TreeSHAP against Shapley values
// computed by enumerating coalitions, tree by tree, and checks that
// contributions and bias add up to the raw score.
func TestExplainMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	for _, c := range explainModels {
		t.Run(c.name, func(t *testing.T) {
			m := loadReference(t, reference{model: c.file, params: map[string]string{"raw_score": "true"}}).(*Model)
			rows := randomRows(m, 6, 7)
			e, err := m.Explain(ctx, []inference.Tensor{tensorOf(m, rows)})
			if err != nil {
				t.Fatalf("Explain: %v", err)
			}
			nf, k := m.numFeatures, m.numOut
			cols := nf + 1
			if e.Rows != len(rows) || e.Groups != k || len(e.Features) != nf {
				t.Fatalf("explanation is %d × %d × %d, want %d × %d × %d", e.Rows, e.Groups, len(e.Features), len(rows), k, nf)
			}
			raw := predictRows(t, m, rows)
			maxd := 0
			for i := range m.trees {
				maxd = max(maxd, m.trees[i].depth())
			}
			path := make([]pathElem, (maxd+2)*(maxd+3)/2)
			checked := 0
			for r, row := range rows {
				// Tree by tree: TreeSHAP against enumeration, for trees
				// small enough to enumerate.
				for i := range m.trees {
					tr := &m.trees[i]
					if (1<<tr.usedFeatures())*(len(tr.nodes)+1) > maxBruteWork {
						continue
					}
					got, want := make([]float64, cols), make([]float64, cols)
					got[nf] = tr.expectedValue()
					if len(tr.nodes) > 0 {
						tr.treeShap(row, got, 0, 0, path, 1, 1, -1)
					}
					tr.bruteShapley(row, want)
					for j := range want {
						if d := math.Abs(got[j] - want[j]); !(d <= 1e-9*max(1, math.Abs(want[j]))) {
							t.Fatalf("row %d tree %d column %d: got %.17g, brute force %.17g", r, i, j, got[j], want[j])
						}
					}
					checked++
				}
				// The whole model: contributions add up to the raw score.
				out := e.Values[r*k*cols : (r+1)*k*cols]
				for g := range k {
					var sum float64
					for _, v := range out[g*cols : (g+1)*cols] {
						sum += v
					}
					if d := math.Abs(sum - raw[r][g]); !(d <= 1e-9*max(1, math.Abs(sum))) {
						t.Fatalf("row %d group %d: contributions add up to %.17g, raw score %.17g", r, g, sum, raw[r][g])
					}
				}
			}
			if checked == 0 {
				t.Fatal("no tree small enough to check by enumeration")
			}
			inferencetest.RunExplainer(t, inferencetest.ExplainCase{Model: m, Rows: rows, Sums: raw, Tol: 1e-9})
			t.Logf("%d tree explanations checked by enumeration", checked)
		})
	}
}

// maxBruteWork bounds the enumeration per tree: 2^features coalitions
// times the nodes each one walks.
const maxBruteWork = 1 << 20

// usedFeatures counts the distinct features a tree splits on.
func (t *tree) usedFeatures() int {
	seen := map[int32]bool{}
	for _, n := range t.nodes {
		seen[n.feature] = true
	}
	return len(seen)
}

func tensorOf(m *Model, rows [][]float64) inference.Tensor {
	x := make([]float64, 0, len(rows)*m.numFeatures)
	for _, r := range rows {
		x = append(x, r...)
	}
	return inference.Tensor{Name: m.inName, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(m.numFeatures)}, F64: x}
}

func TestExplainRefusesLinearTrees(t *testing.T) {
	m := loadReference(t, reference{model: "v4_linear.txt"}).(*Model)
	_, err := m.Explain(context.Background(), []inference.Tensor{tensorOf(m, randomRows(m, 1, 1))})
	if !errors.Is(err, inference.ErrNotExplainable) {
		t.Fatalf("err = %v, want ErrNotExplainable", err)
	}
}

// BenchmarkExplain measures TreeSHAP for one row of the 100-tree gamma
// model.
func BenchmarkExplain(b *testing.B) {
	m := loadReference(b, reference{model: "genlin_fmtp_gamma_AvgClaimAmount.model"}).(*Model)
	in := []inference.Tensor{tensorOf(m, randomRows(m, 1, 3))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Explain(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
