package lightgbm

import (
	"context"
	"sync"

	"github.com/sluicehq/sluice/internal/inference"
)

// minRowsPerWorker is the smallest share of a batch worth a goroutine: below
// it the hand-off costs more than the trees.
const minRowsPerWorker = 64

// ctxCheckRows is how many rows a worker scores between context checks.
const ctxCheckRows = 256

// Model is a loaded LightGBM model. It is immutable and safe for concurrent
// use.
type Model struct {
	sig         inference.Signature
	inName      string
	outName     string
	numFeatures int
	// numOut is num_tree_per_iteration: scores per row.
	numOut int
	// numIter is the number of boosting iterations; tree it*numOut+k adds
	// to score k.
	numIter int
	trees   []tree
	average bool
	obj     objective
	// raw skips the objective's transform.
	raw     bool
	threads int
}

var _ inference.Model = (*Model)(nil)

// Signature returns the model's signature.
func (m *Model) Signature() inference.Signature { return m.sig }

// Predict scores a batch given as one [N, F] (or [F]) numeric tensor. NaN
// is a missing value. The output is [N] for single-output models and
// [N, K] for multiclass models.
func (m *Model) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(inputs) != 1 {
		return nil, inference.Inputf("inputs", "got %d tensors, want 1 named %q", len(inputs), m.inName)
	}
	in := &inputs[0]
	if in.Name != m.inName {
		return nil, inference.Inputf(in.Name, "unknown input: the model takes one input named %q", m.inName)
	}
	rows, data, err := inference.Dense64(in, m.numFeatures)
	if err != nil {
		return nil, err
	}
	out := make([]float64, rows*m.numOut)
	if err := m.score(ctx, rows, data, out); err != nil {
		return nil, err
	}
	shape := []int64{int64(rows)}
	if m.numOut > 1 {
		shape = append(shape, int64(m.numOut))
	}
	return []inference.Tensor{{Name: m.outName, Datatype: inference.FP64, Shape: shape, F64: out}}, nil
}

// score fills out with the predictions for rows rows of data, splitting
// large batches across up to m.threads goroutines.
func (m *Model) score(ctx context.Context, rows int, data, out []float64) error {
	workers := min(m.threads, rows/minRowsPerWorker)
	if workers <= 1 {
		return m.scoreRange(ctx, 0, rows, data, out)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	per := (rows + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, rows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = m.scoreRange(ctx, lo, hi, data, out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// scoreRange scores rows [lo, hi), checking ctx every ctxCheckRows rows.
func (m *Model) scoreRange(ctx context.Context, lo, hi int, data, out []float64) error {
	f, k := m.numFeatures, m.numOut
	for r := lo; r < hi; r++ {
		if (r-lo)%ctxCheckRows == ctxCheckRows-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		m.predictRow(data[r*f:(r+1)*f], out[r*k:(r+1)*k])
	}
	return nil
}

// predictRow computes one row's outputs as GBDT::Predict does: scores
// summed iteration by iteration, averaged for random forests, then
// converted by the objective.
func (m *Model) predictRow(row, out []float64) {
	k := len(out)
	clear(out)
	t := 0
	for range m.numIter {
		for c := range k {
			out[c] += m.trees[t].predict(row)
			t++
		}
	}
	if m.average {
		n := float64(m.numIter)
		for c := range out {
			out[c] /= n
		}
	}
	if !m.raw {
		m.obj.convert(out)
	}
}
