package xgboost

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/inference"
)

var _ inference.Explainer = (*Booster)(nil)

// Explain returns each row's feature contributions to the margin, per
// output group, as XGBoost's predict(pred_contribs=True) does: exact
// TreeSHAP for gbtree and dart (dart trees weighed by weight_drop), and
// weight × value for gblinear (0 for a missing value). The bias column is
// the expected margin (the trees' cover-weighted means plus base_score)
// for trees, and bias + base_score for gblinear.
func (b *Booster) Explain(ctx context.Context, inputs []inference.Tensor) (*inference.Explanation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.forest != nil && b.forest.noCover {
		return nil, fmt.Errorf("%w: the model file has no sum_hessian (node covers), which TreeSHAP needs; save it with XGBoost 1.0 or later in JSON or UBJSON", inference.ErrNotExplainable)
	}
	if b.forest != nil {
		for t, d := range b.forest.depth {
			if d > inference.MaxExplainDepth {
				return nil, fmt.Errorf("%w: tree %d is %d levels deep; TreeSHAP is limited to %d (its memory grows with the square of the depth)", inference.ErrNotExplainable, t, d, inference.MaxExplainDepth)
			}
		}
	}
	if len(inputs) != 1 {
		return nil, inference.Inputf("inputs", "got %d tensors, want 1 named %q", len(inputs), b.inName)
	}
	in := &inputs[0]
	if in.Name != b.inName {
		return nil, inference.Inputf("inputs[0].name", "is %q, want %q", in.Name, b.inName)
	}
	rows, x, err := inference.Dense32(in, b.nFeature)
	if err != nil {
		return nil, err
	}
	k, cols := b.nOut, b.nFeature+1
	out := make([]float32, rows*k*cols)
	method := "linear"
	if b.forest != nil {
		method = "tree_shap"
		if err := b.explainTrees(ctx, x, out, rows); err != nil {
			return nil, err
		}
	} else {
		for r := range rows {
			b.explainLinear(x[r*b.nFeature:(r+1)*b.nFeature], out[r*k*cols:(r+1)*k*cols])
		}
	}
	e := &inference.Explanation{Rows: rows, Groups: k, Values: make([]float64, len(out)), Space: inference.SpaceMargin, Method: method, Float32: true}
	for i, v := range out {
		e.Values[i] = float64(v)
	}
	for _, f := range b.sig.Inputs[0].Features {
		e.Features = append(e.Features, f.Name)
	}
	if k > 1 {
		e.GroupLabels = b.sig.Outputs[0].Labels
		if len(e.GroupLabels) != k {
			e.GroupLabels = make([]string, k)
			for g := range e.GroupLabels {
				e.GroupLabels[g] = strconv.Itoa(g)
			}
		}
	}
	return e, nil
}

// explainLinear writes a gblinear row's contributions, k groups of
// features+1, as XGBoost's GBLinear::PredictContribution.
func (b *Booster) explainLinear(row, out []float32) {
	k, nf := b.nOut, len(row)
	bias := b.linear[nf*k:]
	for g := range k {
		c := out[g*(nf+1) : (g+1)*(nf+1)]
		for j, v := range row {
			if v == v {
				c[j] = v * b.linear[j*k+g]
			}
		}
		c[nf] = bias[g] + b.base[g]
	}
}

// explainTrees fills out with TreeSHAP values for rows rows of x, across
// up to b.threads goroutines taking rows from a shared counter.
func (b *Booster) explainTrees(ctx context.Context, x, out []float32, rows int) error {
	f := b.forest
	mean := b.means()
	threads := b.threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := max(1, min(threads, rows/explainRowsPerWorker))
	cols := b.nOut * (b.nFeature + 1)
	if workers == 1 {
		s := f.newShapScratch(b.nFeature)
		for r := range rows {
			if r%explainCtxRows == explainCtxRows-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			b.explainRow(x[r*b.nFeature:(r+1)*b.nFeature], out[r*cols:(r+1)*cols], mean, s)
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := f.newShapScratch(b.nFeature)
			for {
				r := int(next.Add(1)) - 1
				if r >= rows {
					return
				}
				if r%explainCtxRows == 0 {
					if err := ctx.Err(); err != nil {
						errs[w] = err
						return
					}
				}
				b.explainRow(x[r*b.nFeature:(r+1)*b.nFeature], out[r*cols:(r+1)*cols], mean, s)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// explainRowsPerWorker is the share of rows worth another goroutine; a row
// costs trees × leaves × depth², far more than a prediction.
const explainRowsPerWorker = 8

// explainCtxRows is how often a worker checks for cancellation.
const explainCtxRows = 64

// explainRow writes one row's contributions, k groups of features+1, in
// XGBoost's order: per group, tree by tree, each tree's values (times its
// dart weight) added to the group's, then base_score to the bias.
func (b *Booster) explainRow(row, out []float32, mean []float32, s *shapScratch) {
	f := b.forest
	cols := len(row) + 1
	for g := range b.nOut {
		c := out[g*cols : (g+1)*cols]
		for t := range f.roots {
			if int(f.groups[t]) != g {
				continue
			}
			clear(s.tree)
			f.contribs(t, row, s.tree, mean, s)
			if f.weights == nil {
				for j, v := range s.tree {
					c[j] += v
				}
			} else {
				w := f.weights[t]
				for j, v := range s.tree {
					c[j] += float32(v * w)
				}
			}
		}
		c[cols-1] += b.base[g]
	}
}
