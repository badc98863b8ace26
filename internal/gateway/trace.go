package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing. With Options.Tracing set, every inference call is a trace:
//
//	POST /v2/models/{name}/infer (or the gRPC method)   server span, parent from traceparent
//	├── sluice.route     the endpoint, and the version the plan picked
//	├── sluice.predict   one per version that scored (a fallback adds one)
//	├── sluice.explain   when explanations were asked for
//	└── sluice.shadow    one per mirrored copy, ended when the copy is scored
//
// The W3C traceparent of the predict span goes to external model servers
// (see inference/remote), so their spans join the trace. Without a tracer
// the gateway starts no spans and builds no attributes: each site is
// guarded by one nil check.

// Span names.
const (
	SpanRoute   = "sluice.route"
	SpanPredict = "sluice.predict"
	SpanExplain = "sluice.explain"
	SpanShadow  = "sluice.shadow"
	// SpanGRPCInfer is the server span of a gRPC ModelInfer call.
	SpanGRPCInfer = "inference.GRPCInferenceService/ModelInfer"
)

// Span attribute keys.
const (
	AttrEndpoint  = attribute.Key("sluice.endpoint")
	AttrModel     = attribute.Key("sluice.model")
	AttrVersion   = attribute.Key("sluice.version")
	AttrRole      = attribute.Key("sluice.role")
	AttrFormat    = attribute.Key("sluice.format")
	AttrRows      = attribute.Key("sluice.rows")
	AttrRequestID = attribute.Key("sluice.request_id")
	AttrPinned    = attribute.Key("sluice.pinned")
	AttrMirrors   = attribute.Key("sluice.mirrors")
)

// traceContext reads and writes W3C traceparent and tracestate headers.
var traceContext propagation.TraceContext

// headerCarrier reads a propagated context through a header lookup
// (HTTP headers or gRPC metadata).
type headerCarrier func(string) string

func (h headerCarrier) Get(key string) string { return h(key) }
func (h headerCarrier) Set(string, string)    {}
func (h headerCarrier) Keys() []string        { return []string{"traceparent", "tracestate"} }

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// traced wraps an inference handler in a server span named after its
// route, continuing the caller's trace. Without a tracer it returns h.
func (g *Gateway) traced(route string, h http.HandlerFunc) http.HandlerFunc {
	if g.tracer == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := g.tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path),
		))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if rid := w.Header().Get(HeaderRequestID); rid != "" {
			span.SetAttributes(AttrRequestID.String(rid))
		}
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	}
}

// startGRPC starts the server span of a gRPC inference call.
func (g *Gateway) startGRPC(ctx context.Context) (context.Context, trace.Span) {
	ctx = traceContext.Extract(ctx, headerCarrier(incomingHeader(ctx)))
	return g.tracer.Start(ctx, SpanGRPCInfer, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("rpc.system", "grpc"),
		attribute.String("rpc.service", "inference.GRPCInferenceService"),
		attribute.String("rpc.method", "ModelInfer"),
	))
}

// endWithError records a failed step on span.
func endWithError(span trace.Span, herr *httpError) {
	if herr != nil {
		span.SetAttributes(attribute.Int("sluice.status", herr.status))
		span.SetStatus(codes.Error, herr.msg)
	}
	span.End()
}

// backendAttrs describes the version b in the role role.
func backendAttrs(b *Backend, role string) []attribute.KeyValue {
	return []attribute.KeyValue{
		AttrModel.String(b.Model), AttrVersion.Int(b.Version), AttrRole.String(role), AttrFormat.String(b.Format),
	}
}

// traceRoute annotates the route span with the routing decision.
func traceRoute(span trace.Span, c *call) {
	if c == nil || c.b == nil {
		return
	}
	attrs := append(backendAttrs(c.b, string(c.role)), AttrPinned.Bool(c.pinned))
	if len(c.mirrors) > 0 {
		ms := make([]int, len(c.mirrors))
		copy(ms, c.mirrors)
		attrs = append(attrs, AttrMirrors.IntSlice(ms))
	}
	span.SetAttributes(attrs...)
}
