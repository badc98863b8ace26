package remote

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Calls carry the caller's trace to the model server as a W3C traceparent
// header, when the context holds a span (the gateway's prediction span),
// so that the server's own spans join the trace. Without a span nothing
// is added.

// traceContext writes traceparent (and tracestate) for net/http calls.
var traceContext propagation.TraceContext

// traceparentLine is the length of "traceparent: 00-{32 hex}-{16 hex}-{2
// hex}\r\n", the room a request head keeps for it.
const traceparentLine = len("traceparent: 00-") + 32 + 1 + 16 + 1 + 2 + 2

// appendTraceparent appends the traceparent header line of ctx's span to
// dst, or nothing when ctx holds no valid span. Tracestate is not sent on
// these pooled connections: its length is unbounded.
func appendTraceparent(ctx context.Context, dst []byte) []byte {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return dst
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags() & oteltrace.FlagsSampled)}
	dst = append(dst, "traceparent: 00-"...)
	dst = hex.AppendEncode(dst, tid[:])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, sid[:])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, flags[:])
	return append(dst, "\r\n"...)
}
