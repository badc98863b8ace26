package linear

import (
	"context"
	"math"

	"github.com/sluicehq/sluice/internal/inference"
)

// Model is a loaded linear model. It is immutable and safe for concurrent
// use.
type Model struct {
	sig          inference.Signature
	inName       string
	outName      string
	featureNames []string
	link         string
	numIn        int
	// numOut is the number of scores (rows of coefficients); outCols the
	// number of output columns (1 for regression, else one per class).
	numOut  int
	outCols int
	// coef holds the coefficients row-major: score k uses
	// coef[k*numIn : (k+1)*numIn].
	coef      []float64
	intercept []float64
	// means are the features' training means (feature_means), or nil.
	means []float64
}

var _ inference.Model = (*Model)(nil)

// Signature returns the model's signature.
func (m *Model) Signature() inference.Signature { return m.sig }

// Predict scores a batch given as one [N, F] (or [F]) numeric tensor.
// Every value must be finite: NaN (missing) and ±Inf are refused with an
// *inference.InputError naming the feature.
func (m *Model) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, data, err := m.rows(inputs)
	if err != nil {
		return nil, err
	}
	out := make([]float64, rows*m.outCols)
	for r := range rows {
		m.predictRow(data[r*m.numIn:(r+1)*m.numIn], out[r*m.outCols:(r+1)*m.outCols])
	}
	shape := []int64{int64(rows)}
	if m.link != "identity" { // classifiers return [N, classes]
		shape = append(shape, int64(m.outCols))
	}
	return []inference.Tensor{{Name: m.outName, Datatype: inference.FP64, Shape: shape, F64: out}}, nil
}

// rows checks inputs, one [N, F] tensor of finite values, and returns N
// and the values row-major.
func (m *Model) rows(inputs []inference.Tensor) (int, []float64, error) {
	if len(inputs) != 1 {
		return 0, nil, inference.Inputf("inputs", "got %d tensors, want 1 named %q", len(inputs), m.inName)
	}
	in := &inputs[0]
	if in.Name != m.inName {
		return 0, nil, inference.Inputf(in.Name, "unknown input: the model takes one input named %q", m.inName)
	}
	rows, data, err := inference.Dense64(in, m.numIn)
	if err != nil {
		return 0, nil, err
	}
	for i, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			what := "missing (NaN)"
			if !math.IsNaN(v) {
				what = "infinite"
			}
			return 0, nil, inference.Inputf(m.featureNames[i%m.numIn], "row %d: value is %s; linear models need a finite value for every feature", i/m.numIn, what)
		}
	}
	return rows, data, nil
}

// predictRow computes one row's outputs, as scikit-learn's predict (for
// regression) and predict_proba (for classifiers) do.
func (m *Model) predictRow(x, out []float64) {
	switch m.link {
	case "identity":
		out[0] = m.score(0, x)
	case "logit":
		p := 1 / (1 + math.Exp(-m.score(0, x)))
		out[0], out[1] = 1-p, p
	case "softmax":
		// Shift by the largest score so exp cannot overflow.
		wmax := math.Inf(-1)
		for k := range out {
			out[k] = m.score(k, x)
			wmax = math.Max(wmax, out[k])
		}
		sum := 0.0
		for k := range out {
			out[k] = math.Exp(out[k] - wmax)
			sum += out[k]
		}
		for k := range out {
			out[k] /= sum
		}
	case "ovr":
		// One sigmoid per class, normalised to sum to one.
		sum := 0.0
		for k := range out {
			out[k] = 1 / (1 + math.Exp(-m.score(k, x)))
			sum += out[k]
		}
		for k := range out {
			out[k] /= sum
		}
	}
}

// score returns intercept[k] + coef[k]·x.
func (m *Model) score(k int, x []float64) float64 {
	w := m.coef[k*m.numIn : (k+1)*m.numIn]
	s := 0.0
	for j, v := range x {
		s += w[j] * v
	}
	return s + m.intercept[k]
}
