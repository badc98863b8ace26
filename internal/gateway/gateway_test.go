package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/traffic"
)

// newTestGateway serves the breast_cancer XGBoost model as endpoint "bc"
// (versions 1 and 2, plan: all traffic to 1).
func newTestGateway(t testing.TB, opts Options) (*Gateway, *httptest.Server) {
	t.Helper()
	data, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := New(opts)
	g.Swap(&Snapshot{Revision: 1, Endpoints: map[string]*Endpoint{
		"bc": {Name: "bc", Model: "bc", Plan: traffic.Single(1), Backends: map[int]*Backend{
			1: NewBackend("bc", 1, "xgboost", m, nil),
			2: NewBackend("bc", 2, "xgboost", m, nil),
		}},
	}})
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv
}

func features(t testing.TB) []string {
	t.Helper()
	b, _ := os.ReadFile("../../examples/xgboost/breast_cancer.csv")
	return strings.Split(strings.SplitN(string(b), "\n", 2)[0], ",")
}

func instance(t testing.TB, skip string, extra map[string]any) map[string]any {
	m := map[string]any{}
	for _, f := range features(t) {
		if f != skip {
			m[f] = 1.0
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBadRequests(t *testing.T) {
	_, srv := newTestGateway(t, Options{MaxBodyBytes: 64 << 10})
	row30 := strings.TrimSuffix(strings.Repeat("1,", 30), ",")
	tests := []struct {
		name, method, path, body string
		status                   int
		wantInError              string
	}{
		{"malformed JSON", "POST", "/v2/models/bc/infer", `{"inputs":[`, 400, ""},
		{"wrong datatype", "POST", "/v2/models/bc/infer", `{"inputs":[{"name":"input","datatype":"FLOAT","shape":[1,30],"data":[` + row30 + `]}]}`, 400, "datatype"},
		{"wrong shape", "POST", "/v2/models/bc/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,29],"data":[` + row30 + `]}]}`, 400, "shape"},
		{"shape data mismatch", "POST", "/v2/models/bc/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,30],"data":[` + row30 + `]}]}`, 400, "inputs[0]"},
		{"unknown input", "POST", "/v2/models/bc/infer", `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,30],"data":[` + row30 + `]}]}`, 400, `unknown input "x"`},
		{"unknown output", "POST", "/v2/models/bc/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + row30 + `]}],"outputs":[{"name":"nope"}]}`, 400, `unknown output "nope"`},
		{"unknown endpoint", "POST", "/v2/models/nope/infer", `{}`, 404, `endpoint "nope" not found`},
		{"unknown version", "POST", "/v2/models/bc/versions/9/infer", `{}`, 404, "version 9"},
		{"bad version", "POST", "/v2/models/bc/versions/x/infer", `{}`, 400, "version"},
		{"too large", "POST", "/v2/models/bc/infer", `{"inputs":[` + strings.Repeat(" ", 70<<10) + `]}`, 413, "limit"},
		{"v1 unknown feature", "POST", "/v1/endpoints/bc:predict", jsonBody(map[string]any{"instances": []any{instance(t, "", map[string]any{"amout": 1})}}), 400, `unknown feature "amout"`},
		{"v1 string value", "POST", "/v1/endpoints/bc:predict", jsonBody(map[string]any{"instances": []any{instance(t, "", map[string]any{"mean_radius": "big"})}}), 400, "mean_radius"},
		{"v1 malformed", "POST", "/v1/endpoints/bc:predict", `{"instances":[{]}`, 400, ""},
		{"v1 unknown endpoint", "POST", "/v1/endpoints/nope:predict", `{}`, 404, "nope"},
		{"v1 unknown verb", "POST", "/v1/endpoints/bc:explode", `{}`, 404, "unknown method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb struct {
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, eb.Error, tt.status)
			}
			if eb.Error == "" || !strings.Contains(eb.Error, tt.wantInError) {
				t.Errorf("error = %q, want it to mention %q", eb.Error, tt.wantInError)
			}
		})
	}
}

func TestInferForms(t *testing.T) {
	_, srv := newTestGateway(t, Options{})
	fs := features(t)
	// The columnar form: one [N] tensor per feature.
	var inputs []map[string]any
	for _, f := range fs {
		inputs = append(inputs, map[string]any{"name": f, "datatype": "FP64", "shape": []int{2}, "data": []float64{1, 2}})
	}
	resp, err := http.Post(srv.URL+"/v2/models/bc/infer", "application/json", strings.NewReader(jsonBody(map[string]any{"inputs": inputs})))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Outputs []struct {
			Shape []int     `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("columnar infer: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 2 {
		t.Fatalf("columnar outputs = %+v", out.Outputs)
	}

	// The matrix form gives the same answer as the columnar form.
	flat := make([]float64, 0, 2*len(fs))
	for r := 1; r <= 2; r++ {
		for range fs {
			flat = append(flat, float64(r))
		}
	}
	resp, err = http.Post(srv.URL+"/v2/models/bc/versions/2/infer", "application/json", strings.NewReader(jsonBody(map[string]any{"inputs": []any{map[string]any{"name": "input", "datatype": "FP64", "shape": []int{2, len(fs)}, "data": flat}}})))
	if err != nil {
		t.Fatal(err)
	}
	var out2 struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out2); err != nil || resp.StatusCode != 200 {
		t.Fatalf("matrix infer: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if out2.ModelVersion != "2" || resp.Header.Get(HeaderModelVersion) != "2" {
		t.Errorf("pinned version answered %q / %q, want 2", out2.ModelVersion, resp.Header.Get(HeaderModelVersion))
	}
	for i := range out2.Outputs[0].Data {
		if out2.Outputs[0].Data[i] != out.Outputs[0].Data[i] {
			t.Errorf("row %d: matrix %v != columnar %v", i, out2.Outputs[0].Data[i], out.Outputs[0].Data[i])
		}
	}
}

func TestHealthAndMetadata(t *testing.T) {
	g := New(Options{})
	mux := http.NewServeMux()
	g.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/health/ready", nil))
	if rec.Code != 503 {
		t.Errorf("ready before the first snapshot = %d, want 503", rec.Code)
	}
	_, srv := newTestGateway(t, Options{})
	for path, want := range map[string]string{
		"/v2/health/live":          `"live":true`,
		"/v2/health/ready":         `"ready":true`,
		"/v2/models/bc/ready":      `"ready":true`,
		"/v2/models/bc":            `"mean_radius"`,
		"/v2/models/bc/versions/2": `"versions":["2"]`,
		"/v2":                      `"name":"sluice"`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s = %d %s, want 200 with %s", path, resp.StatusCode, b, want)
		}
	}
}

func TestWriteBuiltKeepsTheRoomItNeeded(t *testing.T) {
	out := bytes.NewBuffer(make([]byte, 0, 8))
	b := append(out.AvailableBuffer(), "a longer answer than eight bytes"...)
	b = slices.Grow(b, 40) // an encoder asking for room it does not use
	writeBuilt(out, b)
	if got := out.String(); got != "a longer answer than eight bytes" {
		t.Fatalf("out = %q", got)
	}
	out.Reset()
	if out.Available() < cap(b) {
		t.Fatalf("after Reset, room %d, want at least %d", out.Available(), cap(b))
	}
	// Built in place: written as it is, no new room.
	room := out.Available()
	writeBuilt(out, append(out.AvailableBuffer(), "in place"...))
	if out.String() != "in place" || out.Cap() != room {
		t.Fatalf("out = %q, cap %d, want \"in place\", cap %d", out.String(), out.Cap(), room)
	}
}
