package linear

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// TestExplain checks, on every scikit-learn model, that a contribution is
// coefficient × value (× (value − mean) with feature_means), and that
// contributions plus bias give back the scores Predict turns into its
// outputs.
func TestExplain(t *testing.T) {
	ctx := context.Background()
	for _, name := range cases {
		for _, withMeans := range []bool{false, true} {
			label := name
			if withMeans {
				label += "/means"
			}
			t.Run(label, func(t *testing.T) {
				var exp expected
				if err := json.Unmarshal(readFile(t, name+".expected.json"), &exp); err != nil {
					t.Fatal(err)
				}
				_, rows := readCSV(t, exp.Data)
				doc := readFile(t, exp.Model)
				var means []float64
				if withMeans {
					means = columnMeans(rows)
					doc = addField(t, doc, "feature_means", means)
				}
				mi, err := Format{}.Load(ctx, doc, inference.LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				m := mi.(*Model)
				in := tensor(m, rows)
				e, err := m.Explain(ctx, []inference.Tensor{in})
				if err != nil {
					t.Fatal(err)
				}
				out, err := m.Predict(ctx, []inference.Tensor{in})
				if err != nil {
					t.Fatal(err)
				}
				nf, k := m.numIn, m.numOut
				cols := nf + 1
				sums := make([][]float64, len(rows))
				for r, x := range rows {
					for g := range k {
						sums[r] = append(sums[r], m.score(g, x))
					}
				}
				inferencetest.RunExplainer(t, inferencetest.ExplainCase{Model: m, Rows: rows, Sums: sums, Tol: 1e-9})
				for r, x := range rows {
					scores := make([]float64, k)
					for g := range k {
						c := e.Values[(r*k+g)*cols : (r*k+g+1)*cols]
						for j := range nf {
							v := x[j]
							if withMeans {
								v -= means[j]
							}
							if want := m.coef[g*nf+j] * v; c[j] != want {
								t.Fatalf("row %d group %d feature %d: %g, want %g", r, g, j, c[j], want)
							}
						}
						for _, v := range c {
							scores[g] += v
						}
					}
					got := make([]float64, m.outCols)
					switch m.link {
					case "identity":
						got[0] = scores[0]
					case "logit":
						got[1] = 1 / (1 + math.Exp(-scores[0]))
						got[0] = 1 - got[1]
					default:
						// Both softmax and ovr rank classes by score; check
						// the scores themselves against a direct computation.
						for g := range k {
							if d := math.Abs(scores[g] - m.score(g, x)); d > 1e-9*max(1, math.Abs(scores[g])) {
								t.Fatalf("row %d group %d: contributions add up to %g, score %g", r, g, scores[g], m.score(g, x))
							}
						}
						continue
					}
					for j := range got {
						if d := math.Abs(got[j] - out[0].F64[r*m.outCols+j]); d > 1e-9 {
							t.Fatalf("row %d output %d: from contributions %g, Predict %g", r, j, got[j], out[0].F64[r*m.outCols+j])
						}
					}
				}
			})
		}
	}
}

func TestFeatureMeansValidated(t *testing.T) {
	doc := addField(t, readFile(t, "diabetes_regression.json"), "feature_means", []float64{1, 2})
	_, err := Format{}.Load(context.Background(), doc, inference.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "feature_means: has 2 values, want 10") {
		t.Fatalf("err = %v, want one naming feature_means", err)
	}
}

func columnMeans(rows [][]float64) []float64 {
	means := make([]float64, len(rows[0]))
	for _, r := range rows {
		for j, v := range r {
			means[j] += v / float64(len(rows))
		}
	}
	return means
}

// addField returns the JSON document doc with one more top-level field.
func addField(t *testing.T, doc []byte, key string, v any) []byte {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	top[key] = raw
	out, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tensor(m *Model, rows [][]float64) inference.Tensor {
	x := make([]float64, 0, len(rows)*m.numIn)
	for _, r := range rows {
		x = append(x, r...)
	}
	return inference.Tensor{Name: m.inName, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(m.numIn)}, F64: x}
}
