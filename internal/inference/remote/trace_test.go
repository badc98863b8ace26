package remote

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice/internal/inference"
)

// TestTraceparent checks that a call inside a span carries the span's W3C
// traceparent, the one OpenTelemetry's own propagator writes, over both
// the pooled HTTP/1.1 connections (http) and net/http (https), and that a
// call outside any span carries none.
func TestTraceparent(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("traceparent"))
		mu.Unlock()
		io.WriteString(w, `{"model_name":"m","outputs":[{"name":"sum","datatype":"FP64","shape":[1],"data":[1]}]}`)
	})
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	for _, tls := range []bool{false, true} {
		name := "http"
		srv := httptest.NewServer(h)
		if tls {
			name = "https"
			srv.Close()
			srv = httptest.NewTLSServer(h)
		}
		t.Run(name, func(t *testing.T) {
			defer srv.Close()
			m := load(t, Document{URLs: []string{srv.URL + "/v2/models/m"}, Signature: testSignature()}, inference.LoadOptions{})
			if tls {
				m.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			}
			mu.Lock()
			got = nil
			mu.Unlock()
			ctx, span := tp.Tracer("test").Start(context.Background(), "predict")
			in := []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}
			if _, err := m.Predict(ctx, in); err != nil {
				t.Fatal(err)
			}
			span.End()
			if _, err := m.Predict(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := got
			mu.Unlock()
			want := propagation.HeaderCarrier{}
			propagation.TraceContext{}.Inject(ctx, want)
			if len(got) != 2 || got[0] != want.Get("traceparent") || got[0] == "" || got[1] != "" {
				t.Errorf("traceparent headers %q, want [%q \"\"]", got, want.Get("traceparent"))
			}
		})
	}
}
