package inference

import (
	"context"
	"errors"
)

// Explainer is implemented by models that can attribute each prediction
// to their input features. The gateway asks for it by type assertion (see
// AsExplainer), so it needs to know nothing of the model's format.
type Explainer interface {
	// Explain returns the per-feature contributions for every row of
	// inputs, which take the same form as Predict's. Input errors are
	// *InputError values, as for Predict.
	Explain(ctx context.Context, inputs []Tensor) (*Explanation, error)
}

// Explanation holds per-feature contributions, Shapley values for tree
// models and coefficient × value for linear ones. Values[((r*Groups)+g)*
// (len(Features)+1)+j] is the contribution of feature j to output group g
// of row r; j = len(Features) holds the bias, the value every row starts
// from (the expected output of the model over its training data for tree
// models, the intercept for linear ones). For each row and group the
// contributions plus the bias add up to the model's output in Space.
type Explanation struct {
	// Rows is the number of rows explained.
	Rows int
	// Groups is the number of outputs explained per row: classes of a
	// multi-class model, targets of a multi-target one, else 1.
	Groups int
	// Features names the input columns, in order.
	Features []string
	// GroupLabels names the groups when Groups > 1 (class labels), or nil.
	GroupLabels []string
	// Values are the contributions, Rows × Groups × (len(Features)+1).
	Values []float64
	// Space is the scale the contributions add up in: "margin" (the raw
	// score before the objective's link, e.g. log-odds) or "output".
	Space string
	// Method names the algorithm: "tree_shap" or "linear".
	Method string
	// Float32 reports that the values were computed in float32 (as
	// XGBoost does), so printing more digits than a float32 has would
	// show rounding noise.
	Float32 bool
}

// Explanation spaces.
const (
	// SpaceMargin: contributions add up to the raw score (log-odds for a
	// logistic model, log of the mean for Poisson) before the link.
	SpaceMargin = "margin"
	// SpaceOutput: contributions add up to the returned prediction.
	SpaceOutput = "output"
)

// MaxExplainDepth is the deepest tree TreeSHAP explainers accept: the
// working memory of the algorithm grows with the square of the depth
// (8 MB at this depth), and real boosted trees stay far shallower.
const MaxExplainDepth = 1024

// ErrNotExplainable marks a model that cannot explain its predictions; the
// gateway answers 400 with the reason.
var ErrNotExplainable = errors.New("model cannot explain predictions")

// Unwrapper is implemented by models that wrap another (request batching),
// so that optional capabilities of the inner model stay reachable.
type Unwrapper interface {
	Unwrap() Model
}

// AsExplainer returns m, or the model it wraps, as an Explainer.
func AsExplainer(m Model) (Explainer, bool) {
	for m != nil {
		if e, ok := m.(Explainer); ok {
			return e, true
		}
		u, ok := m.(Unwrapper)
		if !ok {
			return nil, false
		}
		m = u.Unwrap()
	}
	return nil, false
}
