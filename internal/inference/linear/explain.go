package linear

import (
	"context"

	"github.com/sluicehq/sluice/internal/inference"
)

var _ inference.Explainer = (*Model)(nil)

// Explain returns each row's feature contributions to the model's scores
// (before the link: the log-odds of a binary classifier, each class's
// score of a multiclass one). A feature contributes coefficient × value,
// or coefficient × (value − mean) when the model file carries
// feature_means, which for a linear model is its exact Shapley value
// against that baseline. The bias column holds the intercept, plus
// coefficient · means when there are means, so that contributions and
// bias add up to the score.
func (m *Model) Explain(ctx context.Context, inputs []inference.Tensor) (*inference.Explanation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, data, err := m.rows(inputs)
	if err != nil {
		return nil, err
	}
	nf, k := m.numIn, m.numOut
	cols := nf + 1
	e := &inference.Explanation{
		Rows: rows, Groups: k, Features: m.featureNames, Values: make([]float64, rows*k*cols),
		Space: inference.SpaceMargin, Method: "linear",
	}
	if m.link == "identity" {
		e.Space = inference.SpaceOutput
	}
	if k > 1 {
		e.GroupLabels = m.sig.Outputs[0].Labels
	}
	bias := make([]float64, k)
	for g := range k {
		bias[g] = m.intercept[g]
		if m.means != nil {
			for j, w := range m.coef[g*nf : (g+1)*nf] {
				bias[g] += w * m.means[j]
			}
		}
	}
	for r := range rows {
		x := data[r*nf : (r+1)*nf]
		for g := range k {
			out := e.Values[(r*k+g)*cols : (r*k+g+1)*cols]
			for j, w := range m.coef[g*nf : (g+1)*nf] {
				v := x[j]
				if m.means != nil {
					v -= m.means[j]
				}
				out[j] = w * v
			}
			out[nf] = bias[g]
		}
	}
	return e, nil
}
