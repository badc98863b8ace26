package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/oip"
)

// Response headers every inference answer carries.
const (
	HeaderRequestID    = "Sluice-Request-Id"
	HeaderModelVersion = "Sluice-Model-Version"
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
	// Rewards receives rewards for bandit endpoints; may be nil.
	Rewards RewardSink
	// Mirror sizes the shadow/challenger queue.
	Mirror MirrorOptions
}

// Gateway serves inference requests from the current Snapshot.
type Gateway struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]
	bufs sync.Pool // *bytes.Buffer for request and response bodies

	mirrors *Mirroring
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
	g.bufs.New = func() any { return new(bytes.Buffer) }
	return g
}

// Swap installs s as the routing table. Requests already running finish on
// the snapshot they started with.
func (g *Gateway) Swap(s *Snapshot) { g.snap.Store(s) }

// Current returns the snapshot in use, or nil before the first Swap.
func (g *Gateway) Current() *Snapshot { return g.snap.Load() }

// Register installs the data-plane routes on mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v2", g.serverMetadata)
	mux.HandleFunc("GET /v2/health/live", g.live)
	mux.HandleFunc("GET /v2/health/ready", g.ready)
	mux.HandleFunc("GET /v2/models/{name}", g.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", g.modelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", g.infer)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}", g.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", g.modelReady)
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", g.infer)
	mux.HandleFunc("POST /v1/endpoints/{call}", g.predict)
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

// route finds the endpoint and backend for a request: a pinned version
// from the path, or one picked by the traffic plan.
func (g *Gateway) route(r *http.Request) (*Endpoint, *Backend, *httpError) {
	s := g.snap.Load()
	name := r.PathValue("name")
	if name == "" {
		name = r.PathValue("endpoint")
	}
	if s == nil {
		return nil, nil, &httpError{http.StatusServiceUnavailable, "server is starting: no routing table yet"}
	}
	ep := s.Endpoints[name]
	if ep == nil {
		return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("endpoint %q not found", name)}
	}
	if vs := r.PathValue("version"); vs != "" {
		v, err := strconv.Atoi(vs)
		if err != nil || v <= 0 {
			return nil, nil, &httpError{http.StatusBadRequest, fmt.Sprintf("version %q: must be a positive integer", vs)}
		}
		if b := ep.Backends[v]; b != nil {
			return ep, b, nil
		}
		if g.opts.Pinner == nil {
			return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("version %d is not served by endpoint %q", v, name)}
		}
		b, err := g.opts.Pinner.PinnedBackend(r.Context(), ep.Model, v)
		if errors.Is(err, ErrVersionNotFound) {
			return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("model %q has no version %d", ep.Model, v)}
		}
		if err != nil {
			return nil, nil, &httpError{http.StatusServiceUnavailable, fmt.Sprintf("loading %s version %d: %v", ep.Model, v, err)}
		}
		return ep, b, nil
	}
	return ep, ep.Backends[ep.Plan.Pick(rand.Uint64())], nil
}

func (g *Gateway) modelMetadata(w http.ResponseWriter, r *http.Request) {
	ep, b, herr := g.route(r)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	if r.PathValue("version") == "" {
		b = ep.primary()
	}
	if !b.Ready() {
		g.fail(w, notReady(ep, b))
		return
	}
	md := metadata{Name: ep.Name, Platform: b.Format, Inputs: specs(b.sig.Inputs), Outputs: specs(b.sig.Outputs)}
	if r.PathValue("version") != "" {
		md.Versions = []string{b.versionStr}
	} else {
		for _, v := range ep.Plan.Versions() {
			md.Versions = append(md.Versions, strconv.Itoa(v))
		}
	}
	body, err := marshal(md)
	if err != nil {
		g.fail(w, &httpError{http.StatusInternalServerError, err.Error()})
		return
	}
	w.Header().Set(HeaderModelVersion, b.versionStr)
	writeJSON(w, http.StatusOK, body)
}

func (g *Gateway) modelReady(w http.ResponseWriter, r *http.Request) {
	// A pinned version outside the plan is ready when loaded; asking must
	// not load it.
	if s := g.snap.Load(); s != nil && g.opts.Pinner != nil {
		if ep := s.Endpoints[r.PathValue("name")]; ep != nil {
			if v, err := strconv.Atoi(r.PathValue("version")); err == nil && ep.Backends[v] == nil {
				if g.opts.Pinner.IsLoaded(ep.Model, v) {
					writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
				} else {
					writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`))
				}
				return
			}
		}
	}
	ep, b, herr := g.route(r)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	ok := b.Ready()
	if r.PathValue("version") == "" {
		ok = ep.Ready()
	}
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
}

func (g *Gateway) infer(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	w.Header().Set(HeaderRequestID, rid)
	ep, b, herr := g.route(r)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	if !b.Ready() {
		g.fail(w, notReady(ep, b))
		return
	}
	in := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(in)
	if herr := g.readBody(w, r, in); herr != nil {
		g.fail(w, herr)
		return
	}
	req, err := oip.DecodeInferRequest(in.Bytes(), g.opts.Limits)
	if err != nil {
		g.fail(w, badRequest(err))
		return
	}
	inputs, err := adaptInputs(req.Inputs, b)
	if err != nil {
		g.fail(w, badRequest(err))
		return
	}
	start := time.Now()
	outputs, err := b.Runtime.Predict(r.Context(), inputs)
	if err != nil {
		g.fail(w, g.predictError(ep, b, err))
		return
	}
	g.remember(rid, ep, prediction(b, "", outputs, time.Since(start)))
	if len(req.Outputs) > 0 {
		if outputs, err = selectOutputs(outputs, req.Outputs); err != nil {
			g.fail(w, badRequest(err))
			return
		}
	}
	id := req.ID
	if id == "" {
		id = rid
	}
	out := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(out)
	out.Write(oip.AppendInferResponse(out.AvailableBuffer(), &oip.InferResponse{
		ModelName: ep.Name, ModelVersion: b.versionStr, ID: id, Outputs: outputs,
	}))
	w.Header().Set(HeaderModelVersion, b.versionStr)
	writeJSON(w, http.StatusOK, out.Bytes())
}

func (g *Gateway) predict(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	w.Header().Set(HeaderRequestID, rid)
	name, verb, ok := strings.Cut(r.PathValue("call"), ":")
	if !ok || verb != "predict" {
		g.fail(w, &httpError{http.StatusNotFound, fmt.Sprintf("unknown method %q: use POST /v1/endpoints/{name}:predict", r.URL.Path)})
		return
	}
	r.SetPathValue("endpoint", name)
	ep, b, herr := g.route(r)
	if herr != nil {
		g.fail(w, herr)
		return
	}
	if !b.Ready() {
		g.fail(w, notReady(ep, b))
		return
	}
	if !b.isTabular {
		g.fail(w, &httpError{http.StatusBadRequest, fmt.Sprintf("endpoint %q serves a model without named features; use POST /v2/models/%s/infer with tensors", ep.Name, ep.Name)})
		return
	}
	in := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(in)
	if herr := g.readBody(w, r, in); herr != nil {
		g.fail(w, herr)
		return
	}
	x, err := oip.DecodeInstances(in.Bytes(), b.tabular, g.opts.Limits)
	if err != nil {
		g.fail(w, badRequest(err))
		return
	}
	start := time.Now()
	outputs, err := b.Runtime.Predict(r.Context(), []inference.Tensor{x})
	if err != nil {
		g.fail(w, g.predictError(ep, b, err))
		return
	}
	g.remember(rid, ep, prediction(b, "", outputs, time.Since(start)))
	if len(outputs) == 0 {
		g.fail(w, &httpError{http.StatusInternalServerError, "model returned no outputs"})
		return
	}
	out := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(out)
	out.Write(oip.AppendPredictions(out.AvailableBuffer(), outputs[0], b.Version))
	w.Header().Set(HeaderModelVersion, b.versionStr)
	writeJSON(w, http.StatusOK, out.Bytes())
}

// readBody reads the request body into buf, answering 413 over the limit.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) *httpError {
	if r.ContentLength > g.opts.MaxBodyBytes {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, g.opts.MaxBodyBytes)}
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", g.opts.MaxBodyBytes)}
	case err != nil:
		return &httpError{http.StatusBadRequest, "reading request body: " + err.Error()}
	}
	return nil
}

const maxPooledBuf = 4 << 20

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
		return &httpError{499, "request cancelled"}
	}
	if errors.Is(err, inference.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return &httpError{http.StatusGatewayTimeout, fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
	}
	if errors.Is(err, inference.ErrBackendUnavailable) {
		return &httpError{http.StatusServiceUnavailable, fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
	}
	g.log.Error("prediction failed", "endpoint", ep.Name, "model", b.Model, "version", b.Version, "err", err)
	return &httpError{http.StatusInternalServerError, fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
}

func notReady(ep *Endpoint, b *Backend) *httpError {
	if b == nil {
		return &httpError{http.StatusServiceUnavailable, fmt.Sprintf("endpoint %q has no loaded version", ep.Name)}
	}
	msg := fmt.Sprintf("endpoint %q: %s version %d is not loaded", ep.Name, b.Model, b.Version)
	if b.Err != nil {
		msg += ": " + b.Err.Error()
	}
	return &httpError{http.StatusServiceUnavailable, msg}
}

// requestID returns the caller's request id when it sent a sane one, else a
// new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(HeaderRequestID); id != "" && len(id) <= 128 && printable(id) {
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
}

func badRequest(err error) *httpError { return &httpError{http.StatusBadRequest, err.Error()} }

// fail writes the Open Inference Protocol error body {"error": "..."}.
func (g *Gateway) fail(w http.ResponseWriter, e *httpError) {
	body, _ := marshal(struct {
		Error string `json:"error"`
	}{e.msg})
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json"}
