package gateway

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
)

// maxGroupRows bounds the per-row groups remembered with a request.
const maxGroupRows = monitor.MaxValues

// observe feeds an answered request to the drift window of its version and,
// for an endpoint with a sensitive attribute, to the fairness counts; it
// returns the rows' groups for the feedback memory (nil without one).
func (g *Gateway) observe(c *call, inputs []inference.Tensor, answer monitor.Prediction) []string {
	m, ok := tabularMatrix(inputs, c.b)
	if g.opts.Drift != nil && c.b.Baseline != nil && ok {
		g.opts.Drift.Observe(c.ep.Name, c.b.Version, c.b.Baseline, m, answer, time.Now())
	}
	if g.opts.Fairness == nil || (c.ep.SensitiveHeader == "" && c.ep.SensitiveFeature == "") {
		return nil
	}
	groups := sensitiveGroups(c, inputs, m, ok)
	g.opts.Fairness.Observe(c.ep.Name, answer, groups)
	return groups
}

// sensitiveGroups returns each row's group: the header's value for every
// row, or the feature's value per row (from the tabular matrix, else the
// first row's value for all).
func sensitiveGroups(c *call, inputs []inference.Tensor, m monitor.Matrix, tabular bool) []string {
	if h := c.ep.SensitiveHeader; h != "" {
		if c.header == nil {
			return nil
		}
		if v := c.header(h); v != "" {
			return []string{v}
		}
		return nil
	}
	f := c.ep.SensitiveFeature
	if tabular {
		if j, ok := featureIndex(c.b.tabular.Features, f); ok {
			rows := min(m.Rows, maxGroupRows)
			out := make([]string, rows)
			w := len(m.Features)
			for r := range rows {
				if m.F64 != nil {
					out[r] = strconv.FormatFloat(m.F64[r*w+j], 'g', -1, 64)
				} else {
					out[r] = strconv.FormatFloat(float64(m.F32[r*w+j]), 'g', -1, 32)
				}
			}
			return out
		}
	}
	if v := featureKey(inputs, c.b, f); v != "" {
		return []string{v}
	}
	return nil
}

// tabularMatrix finds the backend's tabular input among the adapted
// inputs: a [N, F] FP32 or FP64 tensor with one column per named feature.
func tabularMatrix(inputs []inference.Tensor, b *Backend) (monitor.Matrix, bool) {
	if b == nil || !b.isTabular || len(b.features) == 0 {
		return monitor.Matrix{}, false
	}
	for i := range inputs {
		t := &inputs[i]
		if len(t.Shape) != 2 || int(t.Shape[1]) != len(b.features) {
			continue
		}
		rows := int(t.Shape[0])
		switch {
		case t.Datatype == inference.FP64 && len(t.F64) >= rows*len(b.features):
			return monitor.Matrix{Features: b.features, F64: t.F64, Rows: rows}, true
		case t.Datatype == inference.FP32 && len(t.F32) >= rows*len(b.features):
			return monitor.Matrix{Features: b.features, F32: t.F32, Rows: rows}, true
		}
	}
	return monitor.Matrix{}, false
}
