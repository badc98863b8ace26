package gateway

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice/internal/leanhttp"
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

// BenchmarkHTTPInfer1RowPaths serves one breast_cancer row over a real
// loopback keep-alive connection through net/http's server and through
// the lean HTTP/1.1 loop (internal/leanhttp) that the server puts in front
// of it by default. The client is net/http's in both, so the difference is
// the server side. Run with -count to interleave the two.
func BenchmarkHTTPInfer1RowPaths(b *testing.B) {
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`)
	for _, path := range []string{"net-http", "lean"} {
		b.Run(path, func(b *testing.B) {
			g, _ := newTestGateway(b, Options{})
			mux := http.NewServeMux()
			g.Register(mux)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := &http.Server{Handler: mux}
			httpLn := ln
			if path == "lean" {
				lean := leanhttp.New(g, leanhttp.Options{MaxBodyBytes: g.MaxBodyBytes()})
				httpLn = lean.Handoff()
				go lean.Serve(ln)
				b.Cleanup(func() { lean.Close() })
			}
			go hs.Serve(httpLn)
			b.Cleanup(func() { hs.Close() })
			client := &http.Client{}
			b.Cleanup(client.CloseIdleConnections)
			url := "http://" + ln.Addr().String() + "/v2/models/bc/infer"
			var sink bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				sink.Reset()
				_, err = sink.ReadFrom(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(resp.StatusCode, err, sink.String())
				}
			}
		})
	}
}
