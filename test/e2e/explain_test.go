package e2e

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestExplainAndTrace serves the diabetes regressor and an external model
// server from a `sluice server --otlp-endpoint` whose collector is an
// OTLP/HTTP receiver in the test, and checks explanations through the CLI
// and REST, the 400 for a model without an explainer, and the exported
// spans of a traced request.
func TestExplainAndTrace(t *testing.T) {
	var mu sync.Mutex
	spans := map[string][]string{} // trace id (hex) → span names
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					id := hex.EncodeToString(s.TraceId)
					spans[id] = append(spans[id], s.Name)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"model_name":"m","outputs":[{"name":"predict","datatype":"FP32","shape":[1],"data":[0.5]}]}`)
	}))
	defer ext.Close()

	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // export spans every 100 ms
	args := []string{"--otlp-endpoint", collector.URL}
	lib := onnxLib(t)
	if lib != "" {
		args = append(args, "--onnxruntime-lib", lib)
	}
	s := startServer(t, args...)
	root := repoRoot(t)
	s.cli(t, "model", "push", "diabetes", filepath.Join(root, "examples", "xgboost", "diabetes.json"))
	s.cli(t, "endpoint", "create", "diabetes", "--model", "diabetes", "--version", "1")
	sig := filepath.Join(t.TempDir(), "sig.json")
	must(t, os.WriteFile(sig, []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,10]}],"outputs":[{"name":"predict","datatype":"FP32","shape":[-1]}]}`), 0o644), "write")
	s.cli(t, "model", "push", "ext", "--format", "http", "--url", ext.URL+"/v2/models/m", "--signature", sig)
	s.cli(t, "endpoint", "create", "ext", "--model", "ext", "--version", "1")

	header, rows := readCSV(t, filepath.Join(root, "examples", "xgboost", "diabetes.csv"))
	inst := map[string]any{}
	for j, h := range header {
		inst[h] = rows[0][j]
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{inst}})
	var got struct {
		Predictions []float64 `json:"predictions"`
		Explanation struct {
			Method string `json:"method"`
			Rows   []struct {
				Bias          float64            `json:"bias"`
				Contributions map[string]float64 `json:"contributions"`
			} `json:"rows"`
		} `json:"explanation"`
	}
	s.cliJSON(t, &got, "predict", "diabetes", "--explain", "-d", string(body))
	if len(got.Explanation.Rows) != 1 || len(got.Explanation.Rows[0].Contributions) != len(header) || got.Explanation.Method != "tree_shap" {
		t.Fatalf("explanation %+v", got.Explanation)
	}
	sum := got.Explanation.Rows[0].Bias
	for _, v := range got.Explanation.Rows[0].Contributions {
		sum += v
	}
	if p := got.Predictions[0]; math.Abs(sum-p) > 1e-5*math.Abs(p) {
		t.Errorf("bias + contributions = %g, prediction %g", sum, p)
	}

	// An external model server has no explainer: 400 saying so.
	row := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,10],"data":[1,2,3,4,5,6,7,8,9,10]}]}`
	resp, err := http.Post(s.URL+"/v2/models/ext/infer?explain=true", "application/json", strings.NewReader(row))
	must(t, err, "post")
	msg := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "(format http) has no explainer") {
		t.Errorf("explain on an external model: %d %s, want 400 naming the reason", resp.StatusCode, msg)
	}

	// So has an ONNX model.
	if lib != "" {
		s.cli(t, "model", "push", "mlp", filepath.Join(root, "examples", "onnx", "breast_cancer_mlp.onnx"))
		s.cli(t, "endpoint", "create", "mlp", "--model", "mlp", "--version", "1")
		in := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1,", 30), ",") + `]}]}`
		resp, err := http.Post(s.URL+"/v2/models/mlp/infer?explain=true", "application/json", strings.NewReader(in))
		must(t, err, "post")
		msg := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(msg), "(format onnx) has no explainer") {
			t.Errorf("explain on an ONNX model: %d %s, want 400 naming the reason", resp.StatusCode, msg)
		}
	}

	// A traced request: the server continues the caller's trace.
	tid := "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", s.URL+"/v1/endpoints/diabetes:predict?explain=true", strings.NewReader(string(body)))
	req.Header.Set("traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	resp, err = http.DefaultClient.Do(req)
	must(t, err, "post")
	resp.Body.Close()
	want := []string{"POST /v1/endpoints/{name}:predict", "sluice.route", "sluice.predict", "sluice.explain"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		names := strings.Join(spans[tid], ",")
		mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(names, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("span %q not exported; the trace has %q", missing, names)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
