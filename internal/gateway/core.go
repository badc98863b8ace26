package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/predlog"
	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/traffic"
)

// This file holds the protocol-neutral steps of an inference call, shared
// by the REST handlers and the gRPC service so that both route, validate
// and fail the same way: resolve picks the endpoint and backend, runInfer
// checks the inputs, predicts and keeps the requested outputs. Failures
// are *httpError values; REST writes them as they are and gRPC converts
// them with grpcStatus, so each cause maps to one status in each protocol.

// call is one routed inference call: the endpoint, the backend that
// answers, and the versions that see a copy.
type call struct {
	ep      *Endpoint
	b       *Backend
	role    traffic.Role
	mirrors []int
	pinned  bool
	header  func(string) string // request headers (HTTP) or metadata (gRPC); may be nil
	// rowIDs, when set, are the request ids of the rows of a multi-row
	// call (ScoreRows): each row is logged, remembered and mirrored alone.
	rowIDs []string
	mbuf   [4]int
	// start is when the last prediction of the call began (predictOn),
	// read back for the prediction log and the request memory instead of
	// the clock; end is when it ended, for the answer's Date.
	start, end time.Time
}

// releaseCall returns a call from resolve for reuse; nothing may use it
// afterwards. Calls not released are left to the garbage collector.
func (g *Gateway) releaseCall(c *call) {
	*c = call{}
	g.calls.Put(c)
}

// PreviewVersion is the version path segment that addresses a blue-green
// endpoint's preview version.
const PreviewVersion = "preview"

// resolve finds the endpoint called name and the backend to answer: the
// pinned version when version is not empty ("preview" pins the blue-green
// preview), else the one the endpoint's traffic plan picks, sticky by the
// header the plan names. The backend may be nil or not ready; callers check
// with Ready and answer notReady.
func (g *Gateway) resolve(ctx context.Context, name, version string, header func(string) string, remote string) (*call, *httpError) {
	if g.tracer == nil {
		return g.route(ctx, name, version, header, remote)
	}
	trace.SpanFromContext(ctx).SetAttributes(AttrEndpoint.String(name)) // the request's span
	ctx, span := g.tracer.Start(ctx, SpanRoute, trace.WithAttributes(AttrEndpoint.String(name)))
	c, herr := g.route(ctx, name, version, header, remote)
	traceRoute(span, c)
	endWithError(span, herr)
	return c, herr
}

// route is resolve without tracing.
func (g *Gateway) route(ctx context.Context, name, version string, header func(string) string, remote string) (*call, *httpError) {
	s := g.snap.Load()
	if s == nil {
		return nil, &httpError{status: http.StatusServiceUnavailable, msg: "server is starting: no routing table yet"}
	}
	ep := s.Endpoints[name]
	if ep == nil {
		return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("endpoint %q not found", name)}
	}
	if ep.RequireToken {
		if herr := g.authorize(ctx, ep, header, remote); herr != nil {
			return nil, herr
		}
	}
	c := g.calls.Get().(*call)
	*c = call{ep: ep, header: header}
	if version == "" {
		key := ""
		if ep.StickyHeader != "" && header != nil {
			key = header(ep.StickyHeader)
		}
		g.pick(c, key)
		return c, nil
	}
	c.pinned = true
	if version == PreviewVersion {
		v := ep.Plan.Preview()
		if v == 0 {
			return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("endpoint %q has no preview version", name)}
		}
		c.b, c.role = ep.Backends[v], traffic.RolePreview
		return c, nil
	}
	v, err := strconv.Atoi(version)
	if err != nil || v <= 0 {
		return nil, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("version %q: must be a positive integer or %q", version, PreviewVersion)}
	}
	if b := ep.Backends[v]; b != nil {
		c.b, c.role = b, ep.Plan.Role(v)
		return c, nil
	}
	if g.opts.Pinner == nil {
		return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("version %d is not served by endpoint %q", v, name)}
	}
	b, err := g.opts.Pinner.PinnedBackend(ctx, ep.Model, v)
	if errors.Is(err, ErrVersionNotFound) {
		return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("model %q has no version %d", ep.Model, v)}
	}
	if err != nil {
		return nil, &httpError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("loading %s version %d: %v", ep.Model, v, err)}
	}
	c.b = b
	return c, nil
}

// authorize checks the caller of an endpoint that needs a token.
func (g *Gateway) authorize(ctx context.Context, ep *Endpoint, header func(string) string, remote string) *httpError {
	if g.opts.Authorizer == nil {
		return &httpError{status: http.StatusUnauthorized, msg: fmt.Sprintf("endpoint %q needs a token and this server has no authenticator", ep.Name)}
	}
	st, err := g.opts.Authorizer.AuthorizeInference(ctx, header, remote)
	if err == nil {
		return nil
	}
	if st == 0 {
		st = http.StatusUnauthorized
	}
	return &httpError{status: st, msg: fmt.Sprintf("endpoint %q needs an API token: %v", ep.Name, err)}
}

// pick applies the endpoint's traffic plan to an unpinned call.
func (g *Gateway) pick(c *call, key string) {
	d := c.ep.Plan.Route(traffic.RouteInput{Key: key, U: rand.Uint64(), U2: rand.Uint64()}, c.mbuf[:0])
	c.b, c.role, c.mirrors = c.ep.Backends[d.Version], d.Role, d.Mirrors
}

// featureKey returns the value of feature in the first row of the inputs
// (the [N, F] matrix, or a per-feature column), or "".
func featureKey(inputs []inference.Tensor, b *Backend, feature string) string {
	if b == nil || !b.isTabular {
		return ""
	}
	for i := range inputs {
		t := &inputs[i]
		if t.Name == feature && t.Len() > 0 {
			return scalarString(t, 0)
		}
	}
	j, ok := featureIndex(b.tabular.Features, feature)
	if !ok {
		return ""
	}
	for i := range inputs {
		t := &inputs[i]
		if t.Name == b.tabular.Name && len(t.Shape) == 2 && int(t.Shape[1]) == len(b.tabular.Features) && t.Len() > j {
			return scalarString(t, j)
		}
	}
	return ""
}

// scalarString formats element i of a tensor as a routing or segment key.
func scalarString(t *inference.Tensor, i int) string {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return strconv.FormatFloat(float64(t.F32[i]), 'g', -1, 32)
	case inference.FP64:
		return strconv.FormatFloat(t.F64[i], 'g', -1, 64)
	case inference.UINT64:
		return strconv.FormatUint(t.U64[i], 10)
	case inference.BOOL:
		return strconv.FormatBool(t.Bool[i])
	case inference.BYTES:
		return string(t.Bytes[i])
	default:
		return strconv.FormatInt(t.I64[i], 10)
	}
}

// segment returns the comparison segment of a call ("name=value"), or "".
func (c *call) segment(inputs []inference.Tensor) string {
	switch {
	case c.ep.SegmentHeader != "" && c.header != nil:
		if v := c.header(c.ep.SegmentHeader); v != "" {
			return c.ep.SegmentHeader + "=" + v
		}
	case c.ep.SegmentFeature != "":
		if v := featureKey(inputs, c.b, c.ep.SegmentFeature); v != "" {
			return c.ep.SegmentFeature + "=" + v
		}
	}
	return ""
}

// tabularSpec returns the named-feature input the plain JSON form maps
// onto: the answering version's, else that of another version of the
// endpoint (a version on an external server may not name its features).
func (c *call) tabularSpec() (inference.TensorSpec, bool) {
	if c.b.isTabular {
		return c.b.tabular, true
	}
	if p := c.ep.primary(); p != nil && p.isTabular {
		return p.tabular, true
	}
	for _, v := range c.ep.Plan.Loaded() {
		if b := c.ep.Backends[v]; b != nil && b.isTabular {
			return b.tabular, true
		}
	}
	return inference.TensorSpec{}, false
}

// stickByFeature re-routes an unpinned call by the sticky feature's value
// once the inputs are decoded.
func (g *Gateway) stickByFeature(c *call, inputs []inference.Tensor) {
	if c.pinned || c.ep.StickyFeature == "" {
		return
	}
	if key := featureKey(inputs, c.b, c.ep.StickyFeature); key != "" {
		g.pick(c, key)
	}
}

// score scores inputs on the call's backend, counts the result, remembers
// the answer for feedback and sends copies to the call's mirrors.
func (g *Gateway) score(ctx context.Context, rid string, c *call, inputs []inference.Tensor) ([]inference.Tensor, *httpError) {
	guard := c.ep.Guard
	if guard != nil {
		if herr := guard.admit(c.ep.Name); herr != nil {
			return nil, herr
		}
		defer guard.release()
	}
	outputs, took, err := g.predictOn(ctx, c, c.b, inputs)
	if err != nil && guard != nil && guard.Fallback && !c.pinned && c.b.Version != guard.FallbackVersion && !isInputError(err) {
		// The failure is counted against c.b; the stable version answers.
		if fb := c.ep.Backends[guard.FallbackVersion]; fb.Ready() {
			g.log.Warn("falling back to the stable version", "endpoint", c.ep.Name, "failed_version", c.b.Version, "err", err)
			c.b, c.role = fb, c.ep.Plan.Role(fb.Version)
			outputs, took, err = g.predictOn(ctx, c, fb, inputs)
		}
	}
	if c.rowIDs != nil {
		g.rowsAfterScore(c, inputs, outputs, took, err)
		if err != nil {
			return nil, g.predictError(c.ep, c.b, err)
		}
		return outputs, nil
	}
	g.logPredictionAt(c.start, rid, c.ep.Name, c.b, string(c.role), inputs, outputs, took, err)
	if err != nil {
		return nil, g.predictError(c.ep, c.b, err)
	}
	if len(c.mirrors) == 0 {
		// The request memory copies what it remembers, so a few answer
		// values may live on the stack. The answer of a mirrored request
		// goes along with the copies to the mirrors, so it is built on
		// the heap below, apart from small for the escape analysis.
		var small [4]float64
		answer := predictionIn(small[:0], c.b, string(c.role), outputs, took)
		g.rememberAt(c.start.Add(took), rid, c.ep, answer, g.observe(c, inputs, answer))
		return outputs, nil
	}
	answer := predictionIn(nil, c.b, string(c.role), outputs, took)
	g.rememberAt(c.start.Add(took), rid, c.ep, answer, g.observe(c, inputs, answer))
	seg := c.segment(inputs)
	for _, v := range c.mirrors {
		mb := c.ep.Backends[v]
		if mb == nil {
			continue
		}
		j := mirrorJob{endpoint: c.ep.Name, rid: rid, backend: mb, role: string(c.ep.Plan.Role(v)), inputs: inputs, answer: answer, segment: seg}
		if g.tracer != nil {
			j.trace = trace.SpanContextFromContext(ctx)
		}
		g.enqueueMirror(j)
	}
	return outputs, nil
}

// predictOn runs one prediction on b under the endpoint's timeout and
// counts it.
func (g *Gateway) predictOn(ctx context.Context, c *call, b *Backend, inputs []inference.Tensor) ([]inference.Tensor, time.Duration, error) {
	if c.ep.Guard != nil && c.ep.Guard.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.ep.Guard.Timeout)
		defer cancel()
	}
	var span trace.Span
	if g.tracer != nil {
		ctx, span = g.tracer.Start(ctx, SpanPredict, trace.WithAttributes(append(backendAttrs(b, string(c.ep.Plan.Role(b.Version))),
			AttrEndpoint.String(c.ep.Name), AttrRows.Int(batchRows(inputs)))...))
	}
	var flight monitor.Flight
	if g.opts.Live != nil {
		flight = g.opts.Live.Begin(c.ep.Name, b.Version, string(c.ep.Plan.Role(b.Version)))
	}
	start := time.Now()
	var outputs []inference.Tensor
	var err error
	if b.at != nil {
		outputs, err = b.at.PredictAt(ctx, start, inputs)
	} else {
		outputs, err = b.Runtime.Predict(ctx, inputs)
	}
	took := time.Since(start)
	c.start, c.end = start, start.Add(took)
	if span != nil {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	if g.opts.Live != nil {
		flight.Done(took, batchRows(inputs), errorKind(err))
	}
	return outputs, took, err
}

// batchRows is the number of rows in a batch: the first dimension of a
// matrix input, else 1.
func batchRows(inputs []inference.Tensor) int {
	switch {
	case len(inputs) == 0:
		return 0
	case len(inputs[0].Shape) > 1:
		return int(inputs[0].Shape[0])
	}
	return 1
}

// errorKind classifies a prediction error for the metrics.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case isInputError(err):
		return "input"
	case errors.Is(err, inference.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, inference.ErrBackendUnavailable):
		return "unavailable"
	}
	return "internal"
}

func isInputError(err error) bool {
	var ie *inference.InputError
	return errors.As(err, &ie)
}

// logPrediction appends a prediction to the prediction log when a sink
// samples this request.
func (g *Gateway) logPrediction(rid, endpoint string, b *Backend, role string, inputs, outputs []inference.Tensor, took time.Duration, err error) {
	g.logPredictionAt(time.Time{}, rid, endpoint, b, role, inputs, outputs, took, err)
}

// logPredictionAt is logPrediction for a prediction that began at start,
// or took before now when start is zero.
func (g *Gateway) logPredictionAt(start time.Time, rid, endpoint string, b *Backend, role string, inputs, outputs []inference.Tensor, took time.Duration, err error) {
	pl := g.opts.PredLog
	if !pl.Wants(rid) {
		return
	}
	if start.IsZero() {
		start = time.Now().Add(-took)
	}
	rec := predlog.Record{RequestID: rid, Time: start, Endpoint: endpoint, Version: b.Version, Role: role, LatencyNS: took.Nanoseconds()}
	var spec *inference.TensorSpec
	if b.isTabular {
		spec = &b.tabular
	}
	if err != nil {
		rec.Error = err.Error()
		outputs = nil
	}
	rec.Inputs, rec.Outputs = predlog.FromCall(inputs, spec, outputs)
	pl.Log(rec)
}

// readiness answers whether a model (version "" : every version its plan
// routes to) is ready. A pinned version outside the plan is ready when it
// is loaded; asking must not load it.
func (g *Gateway) readiness(ctx context.Context, name, version string, header func(string) string, remote string) (bool, *httpError) {
	if s := g.snap.Load(); s != nil && g.opts.Pinner != nil {
		if ep := s.Endpoints[name]; ep != nil {
			if ep.RequireToken {
				if herr := g.authorize(ctx, ep, header, remote); herr != nil {
					return false, herr
				}
			}
			if v, err := strconv.Atoi(version); err == nil && ep.Backends[v] == nil {
				return g.opts.Pinner.IsLoaded(ep.Model, v), nil
			}
		}
	}
	c, herr := g.resolve(ctx, name, version, header, remote)
	if herr != nil {
		return false, herr
	}
	if version == "" {
		return c.ep.Ready(), nil
	}
	return c.b.Ready(), nil
}

// runInfer scores a decoded inference request on a ready backend: it
// checks the inputs against the backend's signature (assembling feature
// columns for tabular models), predicts, remembers the answer under rid
// for feedback, and returns the requested outputs in request order, or
// all of them. With explain it also returns the explanation of the inputs
// by the version that answered.
func (g *Gateway) runInfer(ctx context.Context, rid string, c *call, req *oip.InferRequest, explain bool) ([]inference.Tensor, *inference.Explanation, *httpError) {
	g.stickByFeature(c, req.Inputs)
	if !c.b.Ready() {
		return nil, nil, notReady(c.ep, c.b)
	}
	if explain {
		if _, herr := explainer(c.b); herr != nil {
			return nil, nil, herr
		}
	}
	inputs, err := adaptInputs(req.Inputs, c.b)
	if err != nil {
		return nil, nil, badRequest(err)
	}
	outputs, herr := g.score(ctx, rid, c, inputs)
	if herr != nil {
		return nil, nil, herr
	}
	if len(req.Outputs) > 0 {
		if outputs, err = selectOutputs(outputs, req.Outputs); err != nil {
			return nil, nil, badRequest(err)
		}
	}
	if !explain {
		return outputs, nil, nil
	}
	e, herr := g.explain(ctx, c, inputs)
	if herr != nil {
		return nil, nil, herr
	}
	return append(outputs, contributionsTensor(e)), e, nil
}

// maxRequestID bounds the length of a caller's request id.
const maxRequestID = 128

// pickRequestID returns the caller's request id when it is sane (1 to 128
// printable ASCII characters, no spaces), else a new random one.
func pickRequestID(id string) string {
	if id != "" && len(id) <= maxRequestID && printable(id) {
		return id
	}
	var b [16]byte
	u1, u2 := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(u1 >> (8 * i))
		b[8+i] = byte(u2 >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
