package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/leanhttp"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/predlog"
	"github.com/sluicehq/sluice/internal/oip"
)

// Response headers every inference answer carries.
const (
	HeaderRequestID    = "Sluice-Request-Id"
	HeaderModelVersion = "Sluice-Model-Version"
	// HeaderModelRole names the answering version's role (stable, canary,
	// active, preview, arm).
	HeaderModelRole = "Sluice-Model-Role"
)

// DefaultMaxBodyBytes is the request body limit when Options leaves it 0.
const DefaultMaxBodyBytes = 32 << 20

// ErrVersionNotFound is returned by a Pinner for a version that does not exist.
var ErrVersionNotFound = errors.New("version not found")

// Pinner loads a version of a model on demand, for requests pinned to a
// version the endpoint's traffic plan does not name. The control plane
// implements it; it may be nil.
type Pinner interface {
	PinnedBackend(ctx context.Context, model string, version int) (*Backend, error)
	// IsLoaded reports whether a version is loaded, without loading it.
	IsLoaded(model string, version int) bool
}

// Options configure a Gateway.
type Options struct {
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (413 above it); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Limits bound decoded tensors.
	Limits oip.Limits
	// Pinner serves versions outside the traffic plan; nil means only
	// versions in the plan can be pinned.
	Pinner Pinner
	// Recent remembers answered requests so feedback can join them; nil
	// disables feedback.
	Recent *monitor.Recent
	// Outcomes accumulates joined feedback per version.
	Outcomes *monitor.Outcomes
	// Comparison accumulates shadow and challenger comparisons.
	Comparison *monitor.Comparison
	// Live counts requests, errors and latency per version.
	Live *monitor.Live
	// Drift keeps live drift windows of versions with a baseline; nil
	// measures no drift.
	Drift *monitor.Drift
	// Performance accumulates model quality from joined labels; may be nil.
	Performance *monitor.Performance
	// Fairness counts outcomes per group of endpoints with a sensitive
	// attribute; may be nil.
	Fairness *monitor.Fairness
	// PredLog receives every prediction (sampled per sink); nil logs none.
	PredLog *predlog.Logger
	// Rewards receives rewards for bandit endpoints; may be nil.
	Rewards RewardSink
	// Mirror sizes the shadow/challenger queue.
	Mirror MirrorOptions
	// Authorizer checks callers of endpoints with RequireToken; nil
	// refuses them all (401), so a token endpoint never runs open.
	Authorizer Authorizer
	// Tracing, when set, traces inference calls (see trace.go); nil
	// starts no spans.
	Tracing trace.TracerProvider
}

// Authorizer checks the caller of an endpoint that needs a token. The
// control plane implements it (with a cache, so the hot path does not wait
// on the store).
type Authorizer interface {
	// AuthorizeInference returns 0 and nil to let the call through, or the
	// HTTP status (401, 429, 503) and the reason to refuse it. header reads
	// request headers or gRPC metadata; remote is the client address.
	AuthorizeInference(ctx context.Context, header func(string) string, remote string) (int, error)
}

// Gateway serves inference requests from the current Snapshot.
type Gateway struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]
	bufs sync.Pool // *bytes.Buffer for request and response bodies
	// calls holds *call values for resolve; the REST handlers release
	// theirs when they have answered.
	calls sync.Pool

	mirrors *Mirroring
	// tracer is nil when tracing is off.
	tracer trace.Tracer
}

// New returns a Gateway with an empty snapshot; it reports not ready until
// the first Swap.
func New(opts Options) *Gateway {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: opts, log: log, mirrors: newMirroring(opts.Mirror)}
	if opts.Tracing != nil {
		g.tracer = opts.Tracing.Tracer("github.com/sluicehq/sluice/internal/gateway")
	}
	g.bufs.New = func() any { return new(bytes.Buffer) }
	g.calls.New = func() any { return new(call) }
	return g
}

// Swap installs s as the routing table. Requests already running finish on
// the snapshot they started with.
func (g *Gateway) Swap(s *Snapshot) { g.snap.Store(s) }

// MaxBodyBytes is the request body limit in force.
func (g *Gateway) MaxBodyBytes() int64 { return g.opts.MaxBodyBytes }

// Current returns the snapshot in use, or nil before the first Swap.
func (g *Gateway) Current() *Snapshot { return g.snap.Load() }

// Register installs the data-plane routes on mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v2", g.serverMetadata)
	mux.HandleFunc("GET /v2/health/live", g.live)
	mux.HandleFunc("GET /v2/health/ready", g.ready)
	mux.HandleFunc("GET /v2/models/{name}", g.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", g.modelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", g.traced("POST /v2/models/{name}/infer", g.infer))
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}", g.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", g.modelReady)
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", g.traced("POST /v2/models/{name}/versions/{version}/infer", g.infer))
	mux.HandleFunc("GET /v2/models/{name}/preview", g.preview(g.modelMetadata))
	mux.HandleFunc("GET /v2/models/{name}/preview/ready", g.preview(g.modelReady))
	mux.HandleFunc("POST /v2/models/{name}/preview/infer", g.traced("POST /v2/models/{name}/preview/infer", g.preview(g.infer)))
	mux.HandleFunc("POST /v1/endpoints/{call}", g.traced("POST /v1/endpoints/{name}:predict", g.predict))
	mux.HandleFunc("POST /v1/feedback", g.feedback)
}

func (g *Gateway) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"live":true}`))
}

func (g *Gateway) ready(w http.ResponseWriter, r *http.Request) {
	if g.snap.Load() == nil {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
}

func (g *Gateway) serverMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"name":"sluice","version":"`+Version+`","extensions":[]}`))
}

// Version is the server version reported by GET /v2; set by the binary.
var Version = "dev"

// resolveHTTP routes a REST request: the endpoint from the path, a pinned
// version from the path, or the traffic plan (sticky by header).
func (g *Gateway) resolveHTTP(r *http.Request) (*call, *httpError) {
	return g.resolve(r.Context(), r.PathValue("name"), r.PathValue("version"), r.Header.Get, r.RemoteAddr)
}

func (g *Gateway) modelMetadata(w http.ResponseWriter, r *http.Request) {
	c, herr := g.resolveHTTP(r)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	ep, b := c.ep, c.b
	if !c.pinned {
		b = ep.primary()
	}
	if !b.Ready() {
		g.fail(w, notReady(ep, b))
		return
	}
	md := metadata{Name: ep.Name, Platform: b.Format, Inputs: specs(b.sig.Inputs), Outputs: specs(b.sig.Outputs)}
	if c.pinned {
		md.Versions = []string{b.versionStr}
	} else {
		for _, v := range ep.Plan.Versions() {
			md.Versions = append(md.Versions, strconv.Itoa(v))
		}
	}
	body, err := marshal(md)
	if err != nil {
		g.fail(w, &httpError{status: http.StatusInternalServerError, msg: err.Error()})
		return
	}
	w.Header().Set(HeaderModelVersion, b.versionStr)
	writeJSON(w, http.StatusOK, body)
}

func (g *Gateway) modelReady(w http.ResponseWriter, r *http.Request) {
	ok, herr := g.readiness(r.Context(), r.PathValue("name"), r.PathValue("version"), r.Header.Get, r.RemoteAddr)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
}

// inferRequest is what infer and predict read from a request, whichever
// transport carried it: net/http, or the lean HTTP/1.1 loop (lean.go).
// Both run the same code from here on.
type inferRequest struct {
	ctx           context.Context
	name, version string // path values (predict takes its name from call)
	call          string // predict's {call} segment, "name:predict"
	path          string // the URL path, for messages
	rawQuery      string
	header        func(string) string
	remote        string
	// The body is read from hr, bounded through hw (net/http), or was
	// read already: body, nil when contentLength is over the limit.
	hw            http.ResponseWriter
	hr            *http.Request
	body          []byte
	contentLength int64
}

// httpInferRequest describes a net/http request to an inference route.
func httpInferRequest(w http.ResponseWriter, r *http.Request) inferRequest {
	return inferRequest{ctx: r.Context(), name: r.PathValue("name"), version: r.PathValue("version"), call: r.PathValue("call"),
		path: r.URL.Path, rawQuery: r.URL.RawQuery, header: r.Header.Get, remote: r.RemoteAddr, hw: w, hr: r}
}

// answer is where an inference handler writes its answer: net/http's
// ResponseWriter (w) or the lean loop's Response (lw); one is set.
type answer struct {
	w  http.ResponseWriter
	lw *leanhttp.Response
}

func (a answer) setHeader(key, value string) {
	if a.lw != nil {
		a.lw.SetHeader(key, value)
		return
	}
	a.w.Header()[key] = []string{value}
}

// setNow passes the time of the call's last reading of the clock, when
// it made one, to the lean loop's answer (leanhttp.Response.SetNow).
func (a answer) setNow(t time.Time) {
	if a.lw != nil && !t.IsZero() {
		a.lw.SetNow(t)
	}
}

func (a answer) json(status int, body []byte) {
	if a.lw != nil {
		a.lw.Write(status, "application/json", body)
		return
	}
	writeJSON(a.w, status, body)
}

func (g *Gateway) infer(w http.ResponseWriter, r *http.Request) {
	ir := httpInferRequest(w, r)
	g.serveInfer(answer{w: w}, &ir)
}

func (g *Gateway) predict(w http.ResponseWriter, r *http.Request) {
	ir := httpInferRequest(w, r)
	g.servePredict(answer{w: w}, &ir)
}

// serveInfer answers an Open Inference Protocol v2 infer call.
func (g *Gateway) serveInfer(a answer, ir *inferRequest) {
	rid := pickRequestID(ir.header(HeaderRequestID))
	a.setHeader(HeaderRequestID, rid)
	c, herr := g.resolve(ir.ctx, ir.name, ir.version, ir.header, ir.remote)
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	defer g.releaseCall(c)
	body, in, herr := g.inferBody(ir)
	if in != nil {
		defer g.putBuf(in)
	}
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	req, err := oip.DecodeInferRequest(body, g.opts.Limits)
	if err != nil {
		g.failTo(a, badRequest(err))
		return
	}
	explain, herr := explainQuery(ir.rawQuery)
	if herr == nil && !explain {
		explain, herr = explainParam(req.Parameters)
	}
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	outputs, e, herr := g.runInfer(ir.ctx, rid, c, req, explain)
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	id := req.ID
	if id == "" {
		id = rid
	}
	resp := &oip.InferResponse{ModelName: c.ep.Name, ModelVersion: c.b.versionStr, ID: id, Outputs: outputs}
	if e != nil {
		resp.Parameters = map[string]any{"explanation": explanationParams(e)}
	}
	out := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(out)
	writeBuilt(out, oip.AppendInferResponse(out.AvailableBuffer(), resp))
	g.answerHeaders(a, c)
	a.json(http.StatusOK, out.Bytes())
}

// answerHeaders sets the headers naming the version that answered, and
// hands the lean loop the time the last prediction ended for the Date.
func (g *Gateway) answerHeaders(a answer, c *call) {
	a.setNow(c.end)
	a.setHeader(HeaderModelVersion, c.b.versionStr)
	if c.role != "" {
		a.setHeader(HeaderModelRole, string(c.role))
	}
}

// servePredict answers POST /v1/endpoints/{name}:predict, the plain JSON
// form.
func (g *Gateway) servePredict(a answer, ir *inferRequest) {
	rid := pickRequestID(ir.header(HeaderRequestID))
	a.setHeader(HeaderRequestID, rid)
	name, verb, ok := strings.Cut(ir.call, ":")
	if !ok || verb != "predict" {
		g.failTo(a, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("unknown method %q: use POST /v1/endpoints/{name}:predict", ir.path)})
		return
	}
	explain, herr := explainQuery(ir.rawQuery)
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	c, herr := g.resolve(ir.ctx, name, "", ir.header, ir.remote)
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	defer g.releaseCall(c)
	if !c.b.Ready() {
		g.failTo(a, notReady(c.ep, c.b))
		return
	}
	spec, ok := c.tabularSpec()
	if !ok {
		g.failTo(a, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("endpoint %q serves a model without named features; use POST /v2/models/%s/infer with tensors", c.ep.Name, c.ep.Name)})
		return
	}
	body, in, herr := g.inferBody(ir)
	if in != nil {
		defer g.putBuf(in)
	}
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	x, err := oip.DecodeInstances(body, spec, g.opts.Limits)
	if err != nil {
		g.failTo(a, badRequest(err))
		return
	}
	inputs := []inference.Tensor{x}
	g.stickByFeature(c, inputs)
	if !c.b.Ready() {
		g.failTo(a, notReady(c.ep, c.b))
		return
	}
	if explain {
		if _, herr := explainer(c.b); herr != nil {
			g.failTo(a, herr)
			return
		}
	}
	outputs, herr := g.score(ir.ctx, rid, c, inputs)
	if herr != nil {
		g.failTo(a, herr)
		return
	}
	if len(outputs) == 0 {
		g.failTo(a, &httpError{status: http.StatusInternalServerError, msg: "model returned no outputs"})
		return
	}
	out := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(out)
	pb := oip.AppendPredictions(out.AvailableBuffer(), outputs[0], c.b.Version)
	if explain {
		e, herr := g.explain(ir.ctx, c, inputs)
		if herr != nil {
			g.failTo(a, herr)
			return
		}
		if pb, err = appendPlainExplanation(pb, e); err != nil {
			g.failTo(a, &httpError{status: http.StatusInternalServerError, msg: err.Error()})
			return
		}
	}
	writeBuilt(out, pb)
	g.answerHeaders(a, c)
	a.json(http.StatusOK, out.Bytes())
}

// inferBody returns the request body: read from net/http into a pooled
// buffer, which it also returns for the caller to put back, or the body
// the lean loop read (no buffer), with 413 over the limit either way.
func (g *Gateway) inferBody(ir *inferRequest) ([]byte, *bytes.Buffer, *httpError) {
	if ir.hr != nil {
		buf := g.bufs.Get().(*bytes.Buffer)
		if herr := g.readBody(ir.hw, ir.hr, buf); herr != nil {
			return nil, buf, herr
		}
		return buf.Bytes(), buf, nil
	}
	if ir.contentLength > g.opts.MaxBodyBytes {
		return nil, nil, tooLarge(ir.contentLength, g.opts.MaxBodyBytes)
	}
	return ir.body, nil, nil
}

// tooLarge is the 413 for a declared body length over the limit.
func tooLarge(n, limit int64) *httpError {
	return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", n, limit)}
}

// readBody reads the request body into buf, answering 413 over the limit.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) *httpError {
	if r.ContentLength > g.opts.MaxBodyBytes {
		return tooLarge(r.ContentLength, g.opts.MaxBodyBytes)
	}
	if r.ContentLength > 0 {
		// Grow for what a client declares only up to a point: memory
		// beyond it follows the bytes that really arrive.
		buf.Grow(int(min(r.ContentLength, 64<<10)))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body exceeds the limit of %d bytes", g.opts.MaxBodyBytes)}
	case err != nil:
		return &httpError{status: http.StatusBadRequest, msg: "reading request body: " + err.Error()}
	}
	return nil
}

const maxPooledBuf = 4 << 20

// writeBuilt writes b, appended to out's available buffer, into out.
// When the encoder needed more room than out had (the float writer asks
// for room for the longest number), out keeps that much for its next use,
// so that a pooled buffer stops reallocating once it has served an answer
// of the size.
func writeBuilt(out *bytes.Buffer, b []byte) {
	if cap(b) > out.Available() {
		out.Grow(cap(b))
	}
	out.Write(b)
}

func (g *Gateway) putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuf {
		return // let big buffers go rather than pin memory
	}
	b.Reset()
	g.bufs.Put(b)
}

func (g *Gateway) predictError(ep *Endpoint, b *Backend, err error) *httpError {
	var ie *inference.InputError
	if errors.As(err, &ie) {
		return badRequest(err)
	}
	if errors.Is(err, context.Canceled) {
		return &httpError{status: 499, msg: "request cancelled"}
	}
	if errors.Is(err, inference.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return &httpError{status: http.StatusGatewayTimeout, msg: fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
	}
	if errors.Is(err, inference.ErrBackendUnavailable) {
		return &httpError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
	}
	g.log.Error("prediction failed", "endpoint", ep.Name, "model", b.Model, "version", b.Version, "err", err)
	return &httpError{status: http.StatusInternalServerError, msg: fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
}

func notReady(ep *Endpoint, b *Backend) *httpError {
	if b == nil {
		return &httpError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("endpoint %q has no loaded version", ep.Name)}
	}
	msg := fmt.Sprintf("endpoint %q: %s version %d is not loaded", ep.Name, b.Model, b.Version)
	if b.Err != nil {
		msg += ": " + b.Err.Error()
	}
	return &httpError{status: http.StatusServiceUnavailable, msg: msg}
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// httpError is an answer other than 200, with the message for the caller.
type httpError struct {
	status int
	msg    string
	// retryAfter, when set, is sent as Retry-After (rounded up to seconds).
	retryAfter time.Duration
}

func badRequest(err error) *httpError {
	return &httpError{status: http.StatusBadRequest, msg: err.Error()}
}

// fail writes the Open Inference Protocol error body {"error": "..."}.
func (g *Gateway) fail(w http.ResponseWriter, e *httpError) { g.failTo(answer{w: w}, e) }

// failTo is fail for either transport.
func (g *Gateway) failTo(a answer, e *httpError) {
	if e.retryAfter > 0 {
		a.setHeader("Retry-After", strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
	}
	body, _ := marshal(struct {
		Error string `json:"error"`
	}{e.msg})
	a.json(e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json"}

// preview serves a handler on the blue-green preview version.
func (g *Gateway) preview(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("version", PreviewVersion)
		h(w, r)
	}
}
