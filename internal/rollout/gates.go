package rollout

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/traffic"
)

// Gates are checks a candidate must pass before it gets any traffic; a
// failure blocks the rollout with the reason.
type Gates struct {
	// Signature requires the candidate to accept what stable accepts: the
	// same tabular input (features by name) or the same input tensors.
	Signature bool `json:"signature,omitempty"`
	// Holdout scores a labelled file and requires a metric to reach a
	// threshold.
	Holdout *HoldoutGate `json:"holdout,omitempty"`
	// Latency times single-row predictions and bounds their p99.
	Latency *LatencyGate `json:"latency,omitempty"`
	// Bias bounds a fairness gap between groups on the holdout file.
	Bias *BiasGate `json:"bias,omitempty"`
	// ModelCard requires labels of the candidate version to be filled in.
	ModelCard *ModelCardGate `json:"modelCard,omitempty"`
}

// HoldoutGate scores a labelled CSV file.
type HoldoutGate struct {
	// File is a CSV file the server can read, with a header row naming the
	// model's features, the label column and any other columns.
	File string `json:"file"`
	// LabelColumn holds the true class (0/1, or a class index) or target.
	LabelColumn string `json:"labelColumn"`
	// Metric is accuracy, auc, rmse or logloss.
	Metric string `json:"metric"`
	// Threshold is the least accuracy or AUC, or the largest RMSE or log
	// loss, accepted.
	Threshold float64 `json:"threshold"`
	// NotWorseThanStable, if set, also requires the candidate's metric to
	// be no worse than stable's on the same file by more than this much.
	NotWorseThanStable *float64 `json:"notWorseThanStable,omitempty"`
}

// LatencyGate bounds single-row prediction latency.
type LatencyGate struct {
	// Requests is how many single-row predictions to time; default 200.
	Requests int `json:"requests,omitempty"`
	// P99 is the largest 99th-percentile latency accepted.
	P99 traffic.Duration `json:"p99"`
}

// BiasGate bounds the gap between groups on the holdout file.
type BiasGate struct {
	// GroupColumn names the holdout column holding each row's group.
	GroupColumn string `json:"groupColumn"`
	// Metric is demographicParity (difference of positive-prediction rates)
	// or equalOpportunity (difference of true-positive rates).
	Metric string `json:"metric"`
	// Max is the largest difference accepted.
	Max float64 `json:"max"`
}

// ModelCardGate requires version labels.
type ModelCardGate struct {
	// Required label names; default owner, intended_use, limitations.
	Required []string `json:"required,omitempty"`
}

// GateResult is the outcome of one gate.
type GateResult struct {
	Gate      string  `json:"gate"`
	Passed    bool    `json:"passed"`
	Value     float64 `json:"value,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Message   string  `json:"message"`
}

func (g *Gates) validate(bad func(string, string, ...any) error) error {
	if h := g.Holdout; h != nil {
		switch {
		case h.File == "":
			return bad("gates.holdout.file", "must name a CSV file the server can read")
		case h.LabelColumn == "":
			return bad("gates.holdout.labelColumn", "must not be empty")
		case !slices.Contains([]string{"accuracy", "auc", "rmse", "logloss"}, h.Metric):
			return bad("gates.holdout.metric", "must be accuracy, auc, rmse or logloss, got %q", h.Metric)
		case math.IsNaN(h.Threshold) || h.Threshold < 0:
			return bad("gates.holdout.threshold", "must be a non-negative number")
		}
	}
	if l := g.Latency; l != nil && (l.P99 <= 0 || l.Requests < 0) {
		return bad("gates.latency", "p99 must be positive and requests not negative")
	}
	if b := g.Bias; b != nil {
		switch {
		case g.Holdout == nil:
			return bad("gates.bias", "needs gates.holdout (the file it is measured on)")
		case b.GroupColumn == "":
			return bad("gates.bias.groupColumn", "must not be empty")
		case b.Metric != "demographicParity" && b.Metric != "equalOpportunity":
			return bad("gates.bias.metric", "must be demographicParity or equalOpportunity, got %q", b.Metric)
		case b.Max < 0 || b.Max > 1:
			return bad("gates.bias.max", "must be in [0, 1]")
		}
	}
	return nil
}

// runGates checks the candidate. It returns every gate's result; the
// rollout is blocked when one failed.
func (c *Controller) runGates(ctx context.Context, g *Gates, model string, stable, cand int) ([]GateResult, error) {
	var out []GateResult
	cv, err := c.db.GetVersion(ctx, model, cand)
	if err != nil {
		return nil, err
	}
	if g.ModelCard != nil {
		out = append(out, modelCardGate(g.ModelCard, cv))
	}
	candModel, err := c.model(ctx, model, cand)
	if err != nil {
		return append(out, GateResult{Gate: "load", Message: fmt.Sprintf("version %d does not load: %v", cand, err)}), nil
	}
	var stableModel inference.Model
	if g.Signature || (g.Holdout != nil && g.Holdout.NotWorseThanStable != nil) {
		if stableModel, err = c.model(ctx, model, stable); err != nil {
			return nil, fmt.Errorf("loading stable version %d: %w", stable, err)
		}
	}
	if g.Signature {
		out = append(out, signatureGate(stableModel.Signature(), candModel.Signature(), stable, cand))
	}
	var hold *holdout
	if g.Holdout != nil {
		if hold, err = readHoldout(g.Holdout.File, g.Holdout.LabelColumn, groupColumn(g)); err != nil {
			return append(out, GateResult{Gate: "holdout", Message: err.Error()}), nil
		}
		scores, err := hold.score(ctx, candModel)
		if err != nil {
			return append(out, GateResult{Gate: "holdout", Message: fmt.Sprintf("scoring %s with version %d: %v", g.Holdout.File, cand, err)}), nil
		}
		r := holdoutGate(g.Holdout, hold, scores)
		if r.Passed && g.Holdout.NotWorseThanStable != nil {
			base, err := hold.score(ctx, stableModel)
			if err != nil {
				return nil, fmt.Errorf("scoring %s with stable version %d: %w", g.Holdout.File, stable, err)
			}
			r = compareHoldout(g.Holdout, hold, scores, base, r)
		}
		out = append(out, r)
		if g.Bias != nil {
			out = append(out, biasGate(g.Bias, hold, scores))
		}
	}
	if g.Latency != nil {
		out = append(out, latencyGate(ctx, g.Latency, candModel, hold))
	}
	return out, nil
}

func groupColumn(g *Gates) string {
	if g.Bias != nil {
		return g.Bias.GroupColumn
	}
	return ""
}

// model loads a version through the registry's cache of loaded versions.
func (c *Controller) model(ctx context.Context, model string, version int) (inference.Model, error) {
	b, err := c.reg.PinnedBackend(ctx, model, version)
	if err != nil {
		return nil, err
	}
	return b.Runtime, nil
}

func modelCardGate(g *ModelCardGate, v store.Version) GateResult {
	req := g.Required
	if len(req) == 0 {
		req = []string{"owner", "intended_use", "limitations"}
	}
	var missing []string
	for _, k := range req {
		if strings.TrimSpace(v.Labels[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return GateResult{Gate: "modelCard", Message: fmt.Sprintf("version %d lacks model card fields %s (set them with --label at push)", v.Version, strings.Join(missing, ", "))}
	}
	return GateResult{Gate: "modelCard", Passed: true, Message: "model card fields present: " + strings.Join(req, ", ")}
}

func signatureGate(stable, cand inference.Signature, sv, cv int) GateResult {
	r := GateResult{Gate: "signature"}
	st, sok := stable.TabularInput()
	ct, cok := cand.TabularInput()
	switch {
	case sok && cok:
		if len(st.Features) > 0 && len(ct.Features) > 0 {
			have := map[string]bool{}
			for _, f := range ct.Features {
				have[f.Name] = true
			}
			var missing []string
			for _, f := range st.Features {
				if !have[f.Name] {
					missing = append(missing, f.Name)
				}
			}
			if len(missing) > 0 || len(ct.Features) != len(st.Features) {
				r.Message = fmt.Sprintf("version %d's features differ from version %d's (%d vs %d; missing %s)", cv, sv, len(ct.Features), len(st.Features), strings.Join(missing, ", "))
				return r
			}
		} else if width(st) != width(ct) {
			r.Message = fmt.Sprintf("version %d takes %d features, version %d takes %d", cv, width(ct), sv, width(st))
			return r
		}
	default:
		if len(stable.Inputs) != len(cand.Inputs) {
			r.Message = fmt.Sprintf("version %d has %d inputs, version %d has %d", cv, len(cand.Inputs), sv, len(stable.Inputs))
			return r
		}
		for i, in := range stable.Inputs {
			ci := cand.Inputs[i]
			if ci.Name != in.Name || ci.Datatype != in.Datatype || len(ci.Shape) != len(in.Shape) {
				r.Message = fmt.Sprintf("input %q of version %d (%s %v) does not match version %d's %q (%s %v)", ci.Name, cv, ci.Datatype, ci.Shape, sv, in.Name, in.Datatype, in.Shape)
				return r
			}
		}
	}
	r.Passed, r.Message = true, fmt.Sprintf("version %d accepts the inputs of version %d", cv, sv)
	return r
}

func width(t inference.TensorSpec) int64 {
	if len(t.Shape) == 2 {
		return t.Shape[1]
	}
	return -1
}

// holdout is a labelled file in memory (gates run on modest files).
type holdout struct {
	file    string
	header  []string
	rows    [][]float64 // every numeric column, NaN for empty or non-numeric
	labels  []float64
	groups  []string
	skipCol map[int]bool // label and group columns
}

const maxHoldoutRows = 1_000_000

func readHoldout(path, label, group string) (*holdout, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gates.holdout.file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	h := &holdout{file: path, header: slices.Clone(head), skipCol: map[int]bool{}}
	li, gi := slices.Index(h.header, label), -1
	if li < 0 {
		return nil, fmt.Errorf("%s: no label column %q in the header", path, label)
	}
	h.skipCol[li] = true
	if group != "" {
		if gi = slices.Index(h.header, group); gi < 0 {
			return nil, fmt.Errorf("%s: no group column %q in the header", path, group)
		}
		h.skipCol[gi] = true
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(h.rows) >= maxHoldoutRows {
			return nil, fmt.Errorf("%s: more than %d rows; gates take a sample", path, maxHoldoutRows)
		}
		row := make([]float64, len(rec))
		for i, s := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				v = math.NaN()
			}
			row[i] = v
		}
		y := row[li]
		if math.IsNaN(y) {
			return nil, fmt.Errorf("%s:%d: label %q is not a number", path, line, rec[li])
		}
		h.rows = append(h.rows, row)
		h.labels = append(h.labels, y)
		if gi >= 0 {
			h.groups = append(h.groups, rec[gi])
		}
	}
	if len(h.rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return h, nil
}

// matrix builds a model's tabular input from the file: features by name
// when the model names them, else every column but label and group, in
// order.
func (h *holdout) matrix(m inference.Model, rows []int) (inference.Tensor, error) {
	sig := m.Signature()
	spec, ok := sig.TabularInput()
	if !ok {
		return inference.Tensor{}, fmt.Errorf("the model has no tabular input")
	}
	var cols []int
	if len(spec.Features) > 0 {
		for _, f := range spec.Features {
			i := slices.Index(h.header, f.Name)
			if i < 0 {
				return inference.Tensor{}, fmt.Errorf("%s has no column for feature %q", h.file, f.Name)
			}
			cols = append(cols, i)
		}
	} else {
		for i := range h.header {
			if !h.skipCol[i] {
				cols = append(cols, i)
			}
		}
		if w := width(spec); w > 0 && int64(len(cols)) != w {
			return inference.Tensor{}, fmt.Errorf("%s has %d feature columns, the model takes %d", h.file, len(cols), w)
		}
	}
	t := inference.Tensor{Name: spec.Name, Datatype: spec.Datatype, Shape: []int64{int64(len(rows)), int64(len(cols))}}
	switch spec.Datatype {
	case inference.FP64:
		t.F64 = make([]float64, 0, len(rows)*len(cols))
		for _, r := range rows {
			for _, c := range cols {
				t.F64 = append(t.F64, h.rows[r][c])
			}
		}
	default:
		t.Datatype = inference.FP32
		t.F32 = make([]float32, 0, len(rows)*len(cols))
		for _, r := range rows {
			for _, c := range cols {
				t.F32 = append(t.F32, float32(h.rows[r][c]))
			}
		}
	}
	return t, nil
}

// intLabels returns the labels as class indices.
func (h *holdout) intLabels() []int {
	out := make([]int, len(h.labels))
	for i, y := range h.labels {
		out[i] = int(y)
	}
	return out
}

// scores are a model's outputs on the holdout: one row of Width values per
// holdout row.
type scores struct {
	values []float64
	width  int
}

func (s scores) row(i int) []float64 { return s.values[i*s.width : (i+1)*s.width] }

// positive returns the score of the positive class (binary outputs) or the
// value itself (regression).
func (s scores) positive(i int) float64 {
	r := s.row(i)
	if s.width == 2 {
		return r[1]
	}
	return r[0]
}

// class returns the predicted class.
func (s scores) class(i int) float64 {
	r := s.row(i)
	if s.width == 1 {
		if r[0] >= 0.5 {
			return 1
		}
		return 0
	}
	best := 0
	for k, v := range r {
		if v > r[best] {
			best = k
		}
	}
	return float64(best)
}

func (h *holdout) score(ctx context.Context, m inference.Model) (scores, error) {
	const chunk = 4096
	var out scores
	for start := 0; start < len(h.rows); start += chunk {
		end := min(start+chunk, len(h.rows))
		idx := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			idx = append(idx, i)
		}
		t, err := h.matrix(m, idx)
		if err != nil {
			return out, err
		}
		res, err := m.Predict(ctx, []inference.Tensor{t})
		if err != nil {
			return out, err
		}
		if len(res) == 0 {
			return out, fmt.Errorf("the model returned no output")
		}
		o := res[0]
		n := o.Len()
		if n%len(idx) != 0 {
			return out, fmt.Errorf("output %q has %d values for %d rows", o.Name, n, len(idx))
		}
		w := n / len(idx)
		if out.width != 0 && out.width != w {
			return out, fmt.Errorf("output width changed between chunks")
		}
		out.width = w
		o.Shape = []int64{int64(len(idx)), int64(w)} // a [N] vector is [N, 1]
		_, vals, err := inference.Dense64(&o, w)
		if err != nil {
			return out, err
		}
		out.values = append(out.values, vals...)
	}
	return out, nil
}

func holdoutMetric(metric string, h *holdout, s scores) (float64, error) {
	n := len(h.labels)
	switch metric {
	case "accuracy":
		pred := make([]int, n)
		for i := range pred {
			pred[i] = int(s.class(i))
		}
		return analysis.Accuracy(h.intLabels(), pred)
	case "auc":
		if s.width > 2 {
			return 0, fmt.Errorf("auc needs a binary model, this one has %d outputs per row", s.width)
		}
		sc := make([]float64, n)
		for i := range sc {
			sc[i] = s.positive(i)
		}
		return analysis.ROCAUC(h.intLabels(), sc)
	case "rmse":
		p := make([]float64, n)
		for i := range p {
			p[i] = s.positive(i)
		}
		return analysis.RMSE(h.labels, p)
	case "logloss":
		if s.width > 2 {
			return 0, fmt.Errorf("logloss here needs a binary model, this one has %d outputs per row", s.width)
		}
		p := make([]float64, n)
		for i := range p {
			p[i] = s.positive(i)
		}
		return analysis.LogLoss(h.intLabels(), p)
	}
	return 0, fmt.Errorf("unknown metric %q", metric)
}

func higherIsBetter(metric string) bool { return metric == "accuracy" || metric == "auc" }

func holdoutGate(g *HoldoutGate, h *holdout, s scores) GateResult {
	r := GateResult{Gate: "holdout", Threshold: g.Threshold}
	v, err := holdoutMetric(g.Metric, h, s)
	if err != nil {
		r.Message = err.Error()
		return r
	}
	r.Value = v
	if higherIsBetter(g.Metric) {
		r.Passed = v >= g.Threshold
		r.Message = fmt.Sprintf("%s %.4f on %d rows of %s (at least %.4f needed)", g.Metric, v, len(h.labels), h.file, g.Threshold)
	} else {
		r.Passed = v <= g.Threshold
		r.Message = fmt.Sprintf("%s %.4f on %d rows of %s (at most %.4f accepted)", g.Metric, v, len(h.labels), h.file, g.Threshold)
	}
	return r
}

func compareHoldout(g *HoldoutGate, h *holdout, cand, base scores, r GateResult) GateResult {
	bv, err := holdoutMetric(g.Metric, h, base)
	if err != nil {
		r.Passed, r.Message = false, "stable: "+err.Error()
		return r
	}
	tol := *g.NotWorseThanStable
	worse := r.Value < bv-tol
	if !higherIsBetter(g.Metric) {
		worse = r.Value > bv+tol
	}
	if worse {
		r.Passed = false
	}
	r.Message += fmt.Sprintf("; stable %.4f, tolerance %.4f", bv, tol)
	return r
}

func biasGate(g *BiasGate, h *holdout, s scores) GateResult {
	r := GateResult{Gate: "bias", Threshold: g.Max}
	pred := make([]int, len(h.labels))
	for i := range pred {
		pred[i] = int(s.class(i))
	}
	var gm analysis.GroupMetric
	var err error
	if g.Metric == "demographicParity" {
		gm, err = analysis.DemographicParityDifference(pred, h.groups)
	} else {
		gm, err = analysis.EqualOpportunityDifference(h.intLabels(), pred, h.groups)
	}
	if err != nil {
		r.Message = err.Error()
		return r
	}
	r.Value = gm.Value
	r.Passed = gm.Value <= g.Max
	r.Message = fmt.Sprintf("%s difference %.4f by %s (at most %.4f accepted): %s", g.Metric, gm.Value, g.GroupColumn, g.Max, describeGroups(gm))
	return r
}

func describeGroups(gm analysis.GroupMetric) string {
	var parts []string
	for _, gr := range gm.Groups {
		parts = append(parts, fmt.Sprintf("%s %.3f (n=%d)", gr.Group, gr.Rate, gr.Size))
	}
	return strings.Join(parts, ", ")
}

func latencyGate(ctx context.Context, g *LatencyGate, m inference.Model, h *holdout) GateResult {
	r := GateResult{Gate: "latency", Threshold: time.Duration(g.P99).Seconds()}
	n := g.Requests
	if n == 0 {
		n = 200
	}
	var lat []time.Duration
	for i := 0; i < n; i++ {
		var t inference.Tensor
		var err error
		if h != nil {
			t, err = h.matrix(m, []int{i % len(h.rows)})
		} else {
			t, err = zeroRow(m)
		}
		if err != nil {
			r.Message = err.Error()
			return r
		}
		start := time.Now()
		if _, err := m.Predict(ctx, []inference.Tensor{t}); err != nil {
			r.Message = fmt.Sprintf("prediction %d failed: %v", i+1, err)
			return r
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[int(math.Ceil(0.99*float64(len(lat))))-1]
	r.Value = p99.Seconds()
	r.Passed = p99 <= time.Duration(g.P99)
	r.Message = fmt.Sprintf("p99 of %d single-row predictions %s (at most %s accepted)", n, p99.Round(time.Microsecond), g.P99)
	return r
}

// zeroRow is a one-row input of zeros, for models timed without a holdout.
func zeroRow(m inference.Model) (inference.Tensor, error) {
	sig := m.Signature()
	spec, ok := sig.TabularInput()
	if !ok || width(spec) <= 0 {
		return inference.Tensor{}, fmt.Errorf("the latency gate needs gates.holdout for a model without a fixed-width tabular input")
	}
	w := width(spec)
	t := inference.Tensor{Name: spec.Name, Datatype: spec.Datatype, Shape: []int64{1, w}}
	if spec.Datatype == inference.FP64 {
		t.F64 = make([]float64, w)
	} else {
		t.Datatype, t.F32 = inference.FP32, make([]float32, w)
	}
	return t, nil
}

// recordGates keeps the gates' results with the candidate version.
func (c *Controller) recordGates(ctx context.Context, s *state, model string, version int, res []GateResult, now time.Time) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	passed := true
	for _, r := range res {
		passed = passed && r.Passed
	}
	_, err = c.db.AddVersionCheck(ctx, store.VersionCheck{Model: model, Version: version, Source: "rollout " + s.ro.Name, Passed: passed, Results: b})
	return err
}
