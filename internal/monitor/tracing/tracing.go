// Package tracing sets up OpenTelemetry tracing with OTLP export for the
// server. Tracing is off unless an endpoint is configured, by the
// --otlp-endpoint flag or by the standard OTEL_EXPORTER_OTLP_ENDPOINT /
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables; when it is off, Setup
// returns a nil provider and the gateway starts no spans at all.
//
// Spans are batched and exported in the background by the SDK's batch
// span processor: a request never waits on the collector, and when the
// export queue is full spans are dropped, not requests.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP collector's URL: http(s)://host:4318 for
	// OTLP/HTTP with protobuf (the path /v1/traces is added when the URL
	// has none), grpc://host:4317 (plaintext) or grpcs://host:4317 (TLS)
	// for OTLP/gRPC. Empty leaves the choice to the OTEL_ environment
	// variables.
	Endpoint string
	// ServiceName is the service.name resource attribute unless
	// OTEL_SERVICE_NAME says otherwise; empty means "sluice".
	ServiceName string
	// Version is the service.version resource attribute.
	Version string
	// Logger receives export errors (a collector that is down); nil keeps
	// OpenTelemetry's default, the standard logger.
	Logger *slog.Logger
}

// Setup returns a tracer provider exporting spans over OTLP and a function
// that flushes and stops it, or a nil provider (and a no-op shutdown) when
// tracing is not configured or is disabled by OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none.
func Setup(ctx context.Context, cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	getenv := os.Getenv
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return nil, noop, nil
	}
	if cfg.Endpoint == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, noop, nil
	}
	if cfg.Logger != nil {
		// OpenTelemetry reports export failures through one process-wide
		// handler; the server's logger is the right place for them.
		log := cfg.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	}
	exp, err := newExporter(ctx, cfg.Endpoint, getenv)
	if err != nil {
		return nil, noop, err
	}
	name := cfg.ServiceName
	if name == "" {
		name = "sluice"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, noop, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler follows OTEL_TRACES_SAMPLER (default: parent-based,
	// always on).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// newExporter picks OTLP/HTTP or OTLP/gRPC from the endpoint's scheme, or
// from OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL when the endpoint comes from
// the environment; the exporters read the rest of their OTEL_ variables
// (headers, timeout, compression, certificates) themselves.
func newExporter(ctx context.Context, endpoint string, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if endpoint == "" {
		proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		switch proto {
		case "", "http/protobuf":
			return otlptracehttp.New(ctx)
		case "grpc":
			return otlptracegrpc.New(ctx)
		default:
			return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported (want http/protobuf or grpc)", proto)
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--otlp-endpoint %q: want a URL such as http://localhost:4318 or grpc://localhost:4317", endpoint)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	case "grpc", "grpcs":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host)}
		if u.Scheme == "grpc" {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	return nil, fmt.Errorf("--otlp-endpoint %q: scheme %q is not one of http, https, grpc, grpcs", endpoint, u.Scheme)
}
