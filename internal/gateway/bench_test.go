package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkHTTPPredict1Row measures the full HTTP path (decode, route,
// predict, encode) for one breast_cancer row in the plain JSON form.
func BenchmarkHTTPPredict1Row(b *testing.B) {
	g, _ := newTestGateway(b, Options{})
	mux := http.NewServeMux()
	g.Register(mux)
	body := jsonBody(map[string]any{"instances": []any{instance(b, "", nil)}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/endpoints/bc:predict", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkHTTPInfer1Row is the same over Open Inference Protocol v2.
func BenchmarkHTTPInfer1Row(b *testing.B) {
	g, _ := newTestGateway(b, Options{})
	mux := http.NewServeMux()
	g.Register(mux)
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/bc/infer", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkTracing is BenchmarkHTTPInfer1Row with tracing off (no
// provider: the hot path must cost what it did before tracing existed)
// and on (an SDK provider sampling every request, spans dropped by a
// batch processor with no exporter), to show what spans cost.
func BenchmarkTracing(b *testing.B) {
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`
	for _, on := range []bool{false, true} {
		name := "off"
		var opts Options
		if on {
			name = "on"
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			opts.Tracing = tp
		}
		b.Run(name, func(b *testing.B) {
			g, _ := newTestGateway(b, opts)
			mux := http.NewServeMux()
			g.Register(mux)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/bc/infer", strings.NewReader(body)))
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// BenchmarkHTTPExplain1Row is BenchmarkHTTPInfer1Row with ?explain=true:
// the prediction plus TreeSHAP for the row.
func BenchmarkHTTPExplain1Row(b *testing.B) {
	g, _ := newTestGateway(b, Options{})
	mux := http.NewServeMux()
	g.Register(mux)
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/bc/infer?explain=true", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
