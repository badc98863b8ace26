package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
