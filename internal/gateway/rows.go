package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/traffic"
)

// This file is the entry point for callers inside the process that score
// many independent rows at once, such as stream pipelines: each row is
// routed by the endpoint's traffic plan on its own (so canary weights,
// sticky keys, shadows and bandits apply per row, as if each row were a
// request), and the rows that land on the same version are predicted in
// one call.

// ErrNotServed is returned by ScoreRows for an endpoint the gateway does
// not serve, or one with no loaded version.
var ErrNotServed = errors.New("endpoint not served")

// Rows is a batch of independent rows for ScoreRows.
type Rows struct {
	// IDs are the rows' request ids, one per row; they key the feedback
	// join and the prediction log.
	IDs []string
	// Keys are the rows' sticky routing keys ("" for none), one per row;
	// used when the endpoint's plan is sticky.
	Keys []string
	// X holds the rows, len(IDs) × len(Features) values in the order of
	// the endpoint's features (see EndpointFeatures); NaN is missing.
	X []float64
}

// RowResult is the answer for one row.
type RowResult struct {
	// Version answered the row; Role is its role in the plan.
	Version int
	Role    string
	// Values is the row of the first output (one value, or one per class).
	Values []float64
	// Err is why the row could not be scored; it is an
	// *inference.InputError when the row itself is at fault.
	Err error
}

// EndpointFeatures returns the named-feature input the endpoint's primary
// version takes, which is what Rows.X must hold.
func (g *Gateway) EndpointFeatures(name string) (inference.TensorSpec, error) {
	s := g.snap.Load()
	if s == nil {
		return inference.TensorSpec{}, fmt.Errorf("endpoint %q: %w: the server has no routing table yet", name, ErrNotServed)
	}
	ep := s.Endpoints[name]
	if ep == nil {
		return inference.TensorSpec{}, fmt.Errorf("endpoint %q: %w", name, ErrNotServed)
	}
	c := &call{ep: ep, b: ep.primary()}
	if !c.b.Ready() {
		return inference.TensorSpec{}, fmt.Errorf("endpoint %q: %w: no loaded version", name, ErrNotServed)
	}
	spec, ok := c.tabularSpec()
	if !ok {
		return inference.TensorSpec{}, fmt.Errorf("endpoint %q serves a model without named features", name)
	}
	return spec, nil
}

// ScoreRows scores rows through an endpoint's traffic plan and returns one
// result per row. An error is returned only when nothing can be scored
// (unknown endpoint); failures of single rows or versions are in the
// results.
func (g *Gateway) ScoreRows(ctx context.Context, endpoint string, rows Rows) ([]RowResult, error) {
	s := g.snap.Load()
	var ep *Endpoint
	if s != nil {
		ep = s.Endpoints[endpoint]
	}
	if ep == nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, ErrNotServed)
	}
	return g.scoreRows(ctx, ep, rows, false)
}

// ScoreRowsOn scores rows on one model version, outside any endpoint's
// plan (loading it if needed, like a pinned request).
func (g *Gateway) ScoreRowsOn(ctx context.Context, model string, version int, rows Rows) ([]RowResult, inference.TensorSpec, error) {
	if g.opts.Pinner == nil {
		return nil, inference.TensorSpec{}, fmt.Errorf("model %s version %d: this gateway cannot load versions on demand", model, version)
	}
	if version <= 0 {
		return nil, inference.TensorSpec{}, fmt.Errorf("model %s: version %d: must be positive", model, version)
	}
	b, err := g.opts.Pinner.PinnedBackend(ctx, model, version)
	if err != nil {
		return nil, inference.TensorSpec{}, fmt.Errorf("loading model %s version %d: %w", model, version, err)
	}
	if !b.Ready() || !b.isTabular {
		return nil, inference.TensorSpec{}, fmt.Errorf("model %s version %d: %w: not loaded or without named features", model, version, ErrNotServed)
	}
	ep := &Endpoint{Name: model, Model: model, Plan: traffic.Single(version), Backends: map[int]*Backend{version: b}}
	if rows.IDs == nil {
		return nil, b.tabular, nil
	}
	res, err := g.scoreRows(ctx, ep, rows, true)
	return res, b.tabular, err
}

// group is the rows of a batch routed to one backend.
type group struct {
	c    *call
	rows []int
}

func (g *Gateway) scoreRows(ctx context.Context, ep *Endpoint, rows Rows, pinned bool) ([]RowResult, error) {
	n := len(rows.IDs)
	out := make([]RowResult, n)
	if n == 0 {
		return out, nil
	}
	spec, ok := (&call{ep: ep, b: ep.primary()}).tabularSpec()
	if !ok {
		return nil, fmt.Errorf("endpoint %q: %w: no loaded version with named features", ep.Name, ErrNotServed)
	}
	nf := len(spec.Features)
	if len(rows.X) != n*nf {
		return nil, fmt.Errorf("rows: %d values for %d rows of %d features", len(rows.X), n, nf)
	}
	var groups []*group
	for i := 0; i < n; i++ {
		c := &call{ep: ep, pinned: pinned}
		if pinned {
			c.b, c.role = ep.Backends[ep.Plan.Versions()[0]], ep.Plan.Role(ep.Plan.Versions()[0])
		} else {
			key := ""
			if (ep.StickyHeader != "" || ep.StickyFeature != "") && i < len(rows.Keys) {
				key = rows.Keys[i]
			}
			g.pick(c, key)
		}
		var gr *group
		for _, x := range groups {
			if x.c.b == c.b && sameMirrors(x.c.mirrors, c.mirrors) {
				gr = x
				break
			}
		}
		if gr == nil {
			c.mirrors = append([]int(nil), c.mirrors...)
			gr = &group{c: c}
			groups = append(groups, gr)
		}
		gr.rows = append(gr.rows, i)
	}
	for _, gr := range groups {
		g.scoreGroup(ctx, gr, rows, nf, spec, out)
	}
	return out, nil
}

func sameMirrors(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// scoreGroup predicts the rows of one group in one call and fills their
// results.
func (g *Gateway) scoreGroup(ctx context.Context, gr *group, rows Rows, nf int, spec inference.TensorSpec, out []RowResult) {
	c := gr.c
	fail := func(err error) {
		for _, i := range gr.rows {
			out[i] = RowResult{Err: err}
			if c.b != nil {
				out[i].Version, out[i].Role = c.b.Version, string(c.role)
			}
		}
	}
	if !c.b.Ready() {
		fail(rowError(notReady(c.ep, c.b)))
		return
	}
	m := len(gr.rows)
	x := make([]float64, m*nf)
	for k, i := range gr.rows {
		copy(x[k*nf:(k+1)*nf], rows.X[i*nf:(i+1)*nf])
	}
	inputs := []inference.Tensor{{Name: spec.Name, Datatype: inference.FP64, Shape: []int64{int64(m), int64(nf)}, F64: x}}
	if c.b.isTabular && c.b.tabular.Name != spec.Name {
		inputs[0].Name = c.b.tabular.Name
	}
	ids := make([]string, m)
	for k, i := range gr.rows {
		ids[k] = rows.IDs[i]
	}
	c.rowIDs = ids
	outputs, herr := g.score(ctx, "", c, inputs)
	if herr != nil {
		fail(rowError(herr))
		return
	}
	if len(outputs) == 0 {
		fail(errors.New("model returned no outputs"))
		return
	}
	p := prediction(c.b, string(c.role), outputs[:1], 0)
	width := p.Width
	vals := denseValues(&outputs[0])
	for k, i := range gr.rows {
		r := RowResult{Version: c.b.Version, Role: string(c.role)}
		if (k+1)*width <= len(vals) {
			r.Values = vals[k*width : (k+1)*width : (k+1)*width]
		} else {
			r.Err = fmt.Errorf("model returned %d values for %d rows", len(vals), m)
		}
		out[i] = r
	}
}

// RowError is why a row of ScoreRows failed, with the HTTP status a
// request would have got: 4xx when the row is at fault (except 408, 429
// and 499), 5xx when the version is.
type RowError struct {
	Status int
	Msg    string
}

func (e *RowError) Error() string { return e.Msg }

// StatusCode returns the HTTP status of the failure.
func (e *RowError) StatusCode() int { return e.Status }

// InputFault reports whether the row itself is at fault, so scoring it
// again cannot succeed.
func (e *RowError) InputFault() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429 && e.Status != 499
}

func rowError(h *httpError) error { return &RowError{Status: h.status, Msg: h.msg} }

// denseValues returns every element of t as float64.
func denseValues(t *inference.Tensor) []float64 {
	n := t.Len()
	if t.Datatype == inference.FP64 {
		return t.F64[:n]
	}
	v := make([]float64, n)
	for i := 0; i < n; i++ {
		switch t.Datatype {
		case inference.FP32, inference.FP16:
			v[i] = float64(t.F32[i])
		case inference.UINT64:
			v[i] = float64(t.U64[i])
		case inference.BOOL:
			if t.Bool[i] {
				v[i] = 1
			}
		case inference.BYTES:
			v[i] = 0
		default:
			v[i] = float64(t.I64[i])
		}
	}
	return v
}

// rowsAfterScore logs and remembers each row of a multi-row call under its
// own request id, and mirrors each row on its own, so that feedback and
// comparisons join per row as they do for single requests.
func (g *Gateway) rowsAfterScore(c *call, inputs, outputs []inference.Tensor, took time.Duration, err error) {
	ids := c.rowIDs
	m := len(ids)
	in := &inputs[0]
	nf := 0
	if m > 0 && len(in.Shape) == 2 {
		nf = int(in.Shape[1])
	}
	width := 1
	var vals []float64
	var groups []string // the rows' sensitive groups, for fairness
	if err == nil && len(outputs) > 0 {
		p := prediction(c.b, string(c.role), outputs[:1], took)
		width = p.Width
		vals = denseValues(&outputs[0])
		groups = g.observe(c, inputs, p) // drift and fairness see every row
	}
	seg := ""
	if len(c.mirrors) > 0 {
		seg = c.segment(inputs)
	}
	per := took / time.Duration(max(m, 1))
	wantLog := g.opts.PredLog != nil
	for k, rid := range ids {
		logged := wantLog && g.opts.PredLog.Wants(rid)
		if !logged && g.opts.Recent == nil && len(c.mirrors) == 0 {
			continue
		}
		rowIn := []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{1, int64(nf)}, F64: in.F64[k*nf : (k+1)*nf : (k+1)*nf]}}
		var rowOut []inference.Tensor
		if err == nil && (k+1)*width <= len(vals) {
			rowOut = []inference.Tensor{{Name: outputs[0].Name, Datatype: inference.FP64, Shape: []int64{1, int64(width)}, F64: vals[k*width : (k+1)*width : (k+1)*width]}}
		}
		if logged {
			g.logPrediction(rid, c.ep.Name, c.b, string(c.role), rowIn, rowOut, per, err)
		}
		if err != nil || rowOut == nil {
			continue
		}
		if g.opts.Recent != nil || len(c.mirrors) > 0 {
			answer := prediction(c.b, string(c.role), rowOut, per)
			var rowGroups []string
			switch {
			case len(groups) == m:
				rowGroups = groups[k : k+1 : k+1]
			case len(groups) == 1:
				rowGroups = groups
			}
			g.remember(rid, c.ep, answer, rowGroups)
			for _, v := range c.mirrors {
				if mb := c.ep.Backends[v]; mb != nil {
					g.enqueueMirror(mirrorJob{endpoint: c.ep.Name, rid: rid, backend: mb, role: string(c.ep.Plan.Role(v)), inputs: rowIn, answer: answer, segment: seg})
				}
			}
		}
	}
}
