package xgboost

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/inference"
)

var _ inference.Model = (*Booster)(nil)

// Booster is a loaded XGBoost model. It is immutable and safe for
// concurrent use.
type Booster struct {
	sig      inference.Signature
	inName   string
	outName  string
	nFeature int
	// nOut is the number of margins per row: classes, targets or 1.
	nOut int
	// outCols is the number of output values per row; outMatrix says
	// whether the output is [N, outCols] rather than [N].
	outCols   int
	outMatrix bool
	// base holds the margin every row starts from, per output group:
	// base_score through the objective's link.
	base []float32
	obj  objective
	// Exactly one of forest (gbtree, dart) and linear (gblinear) is set.
	forest *forest
	// linear holds gblinear weights: weight of feature j for group g at
	// j*nOut+g, biases after the last feature.
	linear []float32
	// threads bounds the goroutines of one Predict; 0 means GOMAXPROCS.
	threads int
	// means holds each tree node's expected value for TreeSHAP, computed
	// on the first explanation.
	means func() []float32
}

// Signature describes the model's single [N, F] input and its output.
func (b *Booster) Signature() inference.Signature { return b.sig }

// minRowsPerWorker is the batch share below which another goroutine costs
// more than it saves.
const minRowsPerWorker = 64

// ctxCheckRows is how often a long batch checks for cancellation.
const ctxCheckRows = 256 * lanes

// Predict scores a batch. NaN is a missing value.
func (b *Booster) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
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
	out := make([]float32, rows*b.outCols)
	if err := b.predict(ctx, x, out, rows); err != nil {
		return nil, err
	}
	shape := []int64{int64(rows)}
	if b.outMatrix {
		shape = append(shape, int64(b.outCols))
	}
	return []inference.Tensor{{Name: b.outName, Datatype: inference.FP32, Shape: shape, F32: out}}, nil
}

// predict fills out for rows rows of x, splitting a large batch across
// goroutines. They take chunks from a shared counter rather than one fixed
// share each, so a goroutine whose thread the OS runs less (other
// processes, other requests) does not hold up the whole batch.
func (b *Booster) predict(ctx context.Context, x, out []float32, rows int) error {
	threads := b.threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := min(threads, rows/minRowsPerWorker)
	if workers <= 1 {
		return b.predictRange(ctx, x, out, 0, rows)
	}
	// About eight chunks per worker, whole blocks of lanes rows.
	chunk := max(minRowsPerWorker, rows/(8*workers)) / lanes * lanes
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= rows {
					return
				}
				if err := b.predictRange(ctx, x, out, lo, min(lo+chunk, rows)); err != nil {
					errs[w] = err
					return
				}
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

// predictRange scores rows [lo, hi), a block of lanes rows at a time.
func (b *Booster) predictRange(ctx context.Context, x, out []float32, lo, hi int) error {
	nf, k, c := b.nFeature, b.nOut, b.outCols
	// Margins go straight to the output rows unless the objective reduces
	// them (softmax's class index).
	var scratch []float32
	if c != k {
		scratch = make([]float32, lanes*k)
	}
	for r := lo; r < hi; r += lanes {
		if (r-lo)%ctxCheckRows == 0 && r > lo {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rows := min(lanes, hi-r)
		xb := x[r*nf : (r+rows)*nf]
		ob := out[r*c : (r+rows)*c]
		m := ob
		if scratch != nil {
			m = scratch[:rows*k]
		}
		for i := 0; i < len(m); i += k {
			copy(m[i:i+k], b.base)
		}
		switch {
		case b.forest != nil && b.forest.cats == nil && rows >= blockRows:
			b.forest.addBlock(xb, nf, rows, m, k)
		default:
			for i := range rows {
				row, mr := xb[i*nf:(i+1)*nf], m[i*k:(i+1)*k]
				switch {
				case b.forest == nil:
					b.addLinear(row, mr)
				case b.forest.cats != nil:
					b.forest.addCategorical(row, mr)
				default:
					b.forest.addRow(row, mr)
				}
			}
		}
		for i := range rows {
			b.obj.apply(m[i*k:(i+1)*k], ob[i*c:(i+1)*c])
		}
	}
	return nil
}

// addLinear adds a gblinear model's margins for row to m, in XGBoost's
// order and float32 precision: bias first, then each present feature.
func (b *Booster) addLinear(row []float32, m []float32) {
	K := b.nOut
	bias := b.linear[len(row)*K:]
	for g := range m {
		sum := m[g] + bias[g]
		for j, v := range row {
			if v == v {
				sum += float32(v * b.linear[j*K+g])
			}
		}
		m[g] = sum
	}
}
