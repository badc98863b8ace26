package tracing

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// grpcCollector is an OTLP/gRPC trace receiver.
type grpcCollector struct {
	coltrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	attrs map[string]string // resource attributes
}

func (c *grpcCollector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			c.attrs[kv.Key] = kv.Value.GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names = append(c.names, s.Name)
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (c *grpcCollector) got() ([]string, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	attrs := map[string]string{}
	for k, v := range c.attrs {
		attrs[k] = v
	}
	return append([]string(nil), c.names...), attrs
}

// TestGRPCExport exports a span over OTLP/gRPC (grpc:// endpoint) to a
// real gRPC trace service, with the resource the environment sets.
func TestGRPCExport(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	col := &grpcCollector{attrs: map[string]string{}}
	coltrace.RegisterTraceServiceServer(srv, col)
	go srv.Serve(lis)
	defer srv.Stop()

	t.Setenv("OTEL_SERVICE_NAME", "sluice-eu")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	ctx := context.Background()
	tp, shutdown, err := Setup(ctx, Config{Endpoint: "grpc://" + lis.Addr().String(), Version: "1.2.3"})
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(ctx, "hello")
	span.End()
	if err := tp.(*sdktrace.TracerProvider).ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	names, attrs := col.got()
	if len(names) != 1 || names[0] != "hello" {
		t.Fatalf("collector got spans %q, want [hello]", names)
	}
	for k, want := range map[string]string{"service.name": "sluice-eu", "service.version": "1.2.3", "deployment.environment": "test"} {
		if attrs[k] != want {
			t.Errorf("resource %s = %q, want %q", k, attrs[k], want)
		}
	}
}

// TestEnvEndpoint turns tracing on from OTEL_EXPORTER_OTLP_ENDPOINT alone,
// over OTLP/HTTP, to the standard path.
func TestEnvEndpoint(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
	}))
	defer col.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL) // the exporter reads it itself
	ctx := context.Background()
	tp, shutdown, err := Setup(ctx, Config{})
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(ctx, "hello")
	span.End()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/v1/traces application/x-protobuf" {
		t.Fatalf("collector got %q, want one protobuf POST to /v1/traces", paths)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		env  map[string]string
		want string
	}{
		{Config{Endpoint: "ftp://host:1"}, nil, `scheme "ftp"`},
		{Config{Endpoint: "localhost:4318"}, nil, "--otlp-endpoint"},
		{Config{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, _, err := Setup(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v %v: err = %v, want one containing %q", tc.cfg, tc.env, err, tc.want)
			}
		})
	}
}

// TestOff: no endpoint, or tracing disabled by the standard variables.
func TestOff(t *testing.T) {
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run("", func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			tp, _, err := Setup(context.Background(), Config{})
			if err != nil || tp != nil {
				t.Errorf("env %v: Setup = %v, %v; want tracing off", env, tp, err)
			}
		})
	}
}
