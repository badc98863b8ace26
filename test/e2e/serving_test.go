package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// fixture is a model under examples/ with rows and the training library's
// own predictions.
type fixture struct {
	name   string // endpoint and model name
	format string
	model  string // path
	sig    string // path of a signature file, for models without feature names
	tol    float64
	header []string
	rows   [][]float64
	want   [][]float64 // per row: one value, or one per class
}

// fixtures lists every example model that has a CSV and expected
// predictions, for the formats this build serves.
func fixtures(t *testing.T, formats []string) []fixture {
	t.Helper()
	root := repoRoot(t)
	expected, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.expected.json"))
	must(t, err, "glob")
	var out []fixture
	for _, exp := range expected {
		base := strings.TrimSuffix(exp, ".expected.json")
		format := filepath.Base(filepath.Dir(exp))
		if !contains(formats, format) {
			t.Logf("skipping %s: format %s is not in this build (%v)", exp, format, formats)
			continue
		}
		if format == "onnx" && onnxLib(t) == "" {
			continue
		}
		var model string
		for _, ext := range []string{".json", ".txt", ".onnx"} {
			if _, err := os.Stat(base + ext); err == nil {
				model = base + ext
			}
		}
		if model == "" {
			continue
		}
		f := fixture{name: strings.ReplaceAll(filepath.Base(base), "_", "-"), format: format, model: model, tol: 1e-6}
		if format == "onnx" {
			f.tol = 1e-5
		}
		if _, err := os.Stat(base + ".signature.json"); err == nil {
			f.sig = base + ".signature.json"
		}
		f.header, f.rows = readCSV(t, base+".csv")
		f.want = readExpected(t, exp)
		if len(f.want) != len(f.rows) {
			t.Fatalf("%s: %d expected predictions for %d rows", exp, len(f.want), len(f.rows))
		}
		out = append(out, f)
	}
	if len(out) < 2 {
		t.Fatalf("found %d fixtures under examples/, want at least the two XGBoost models", len(out))
	}
	return out
}

// onnxLib returns the ONNX Runtime library for the server: from
// SLUICE_ONNXRUNTIME_LIB or where scripts/onnxruntime.sh puts it. Without
// one, ONNX examples are skipped locally and fail in CI.
func onnxLib(t *testing.T) string {
	if lib := os.Getenv("SLUICE_ONNXRUNTIME_LIB"); lib != "" {
		return lib
	}
	lib := filepath.Join(repoRoot(t), "third_party", "onnxruntime", "libonnxruntime.so.1.24.1")
	if _, err := os.Stat(lib); err == nil {
		return lib
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: the ONNX Runtime library is required; run scripts/onnxruntime.sh or set SLUICE_ONNXRUNTIME_LIB")
	}
	t.Logf("skipping ONNX examples: no ONNX Runtime library (run scripts/onnxruntime.sh)")
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func readCSV(t *testing.T, path string) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err, "open %s", path)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	must(t, err, "read %s", path)
	rows := make([][]float64, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for i, s := range rec {
			if s == "" {
				row[i] = math.NaN()
				continue
			}
			row[i], err = strconv.ParseFloat(s, 64)
			must(t, err, "%s: %q", path, s)
		}
		rows = append(rows, row)
	}
	return recs[0], rows
}

func readExpected(t *testing.T, path string) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err, "read %s", path)
	var raw map[string]json.RawMessage
	must(t, json.Unmarshal(b, &raw), "decode %s", path)
	for _, key := range []string{"predictions", "probabilities"} {
		if _, ok := raw[key]; !ok {
			continue
		}
		var flat []float64
		if json.Unmarshal(raw[key], &flat) == nil {
			out := make([][]float64, len(flat))
			for i, v := range flat {
				out[i] = []float64{v}
			}
			return out
		}
		var nested [][]float64
		must(t, json.Unmarshal(raw[key], &nested), "decode %s.%s", path, key)
		return nested
	}
	t.Fatalf("%s has neither predictions nor probabilities", path)
	return nil
}

// closeEnough allows 1e-6 (absolute or relative): tree and linear models
// must match their libraries that closely. ONNX fixtures are checked to
// 1e-5, the bound for float32 networks.
func closeEnough(got, want, tol float64) bool {
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}

// TestServeEveryFixture pushes every example model through the CLI, creates
// an endpoint for each, and scores every CSV row over both REST forms.
func TestServeEveryFixture(t *testing.T) {
	var extra []string
	if lib := onnxLib(t); lib != "" {
		extra = append(extra, "--onnxruntime-lib", lib)
	}
	s := startServer(t, extra...)
	var info apiclient.ServerInfo
	c := s.client()
	info, err := c.Info(t.Context())
	must(t, err, "info")

	for _, f := range fixtures(t, info.Formats) {
		t.Run(f.name, func(t *testing.T) {
			var v apiclient.Version
			args := []string{"model", "push", f.name, f.model, "--description", "e2e " + f.name, "--label", "source=examples"}
			if f.sig != "" {
				args = append(args, "--signature", f.sig)
			}
			s.cliJSON(t, &v, args...)
			if v.Version != 1 || v.Format != f.format {
				t.Fatalf("push = version %d format %s, want 1 %s", v.Version, v.Format, f.format)
			}
			s.cli(t, "endpoint", "create", f.name, "--model", f.name, "--version", "1")

			// Plain JSON form, all rows in one request (scored as one batch).
			inst := make([]map[string]any, len(f.rows))
			for i, r := range f.rows {
				m := make(map[string]any, len(r))
				for j, h := range f.header {
					if !math.IsNaN(r[j]) {
						m[h] = r[j]
					}
				}
				inst[i] = m
			}
			body, _ := json.Marshal(map[string]any{"instances": inst})
			resp := post(t, s.URL+"/v1/endpoints/"+f.name+":predict", body)
			var pred struct {
				Predictions  []json.RawMessage `json:"predictions"`
				ModelVersion int               `json:"model_version"`
			}
			must(t, json.Unmarshal(resp.body, &pred), "decode %s", resp.body)
			if pred.ModelVersion != 1 || resp.header.Get("Sluice-Model-Version") != "1" || resp.header.Get("Sluice-Request-Id") == "" {
				t.Errorf("model_version %d, headers %v", pred.ModelVersion, resp.header)
			}
			if len(pred.Predictions) != len(f.rows) {
				t.Fatalf("got %d predictions for %d rows", len(pred.Predictions), len(f.rows))
			}
			bad := 0
			for i, p := range pred.Predictions {
				var got []float64
				var one float64
				if json.Unmarshal(p, &one) == nil {
					got = []float64{one}
				} else {
					must(t, json.Unmarshal(p, &got), "row %d", i)
				}
				if !rowClose(got, f.want[i], f.tol) {
					bad++
					if bad < 5 {
						t.Errorf("v1 row %d: got %v, want %v", i, got, f.want[i])
					}
				}
			}

			// Open Inference Protocol v2, all rows as one [N, F] FP64 tensor.
			flat := make([]any, 0, len(f.rows)*len(f.header))
			for _, r := range f.rows {
				for _, x := range r {
					if math.IsNaN(x) {
						flat = append(flat, nil)
					} else {
						flat = append(flat, x)
					}
				}
			}
			var md struct {
				Inputs []struct {
					Name string `json:"name"`
				} `json:"inputs"`
			}
			must(t, json.Unmarshal(get(t, s.URL+"/v2/models/"+f.name).body, &md), "metadata")
			body, _ = json.Marshal(map[string]any{"id": "e2e-1", "inputs": []any{map[string]any{
				"name": md.Inputs[0].Name, "datatype": "FP64", "shape": []int{len(f.rows), len(f.header)}, "data": flat,
			}}})
			resp = post(t, s.URL+"/v2/models/"+f.name+"/infer", body)
			var inf struct {
				ModelName    string `json:"model_name"`
				ModelVersion string `json:"model_version"`
				ID           string `json:"id"`
				Outputs      []struct {
					Shape []int     `json:"shape"`
					Data  []float64 `json:"data"`
				} `json:"outputs"`
			}
			must(t, json.Unmarshal(resp.body, &inf), "decode %.300s", resp.body)
			if inf.ModelName != f.name || inf.ModelVersion != "1" || inf.ID != "e2e-1" {
				t.Errorf("v2 answer names %q %q %q", inf.ModelName, inf.ModelVersion, inf.ID)
			}
			per := len(f.want[0])
			if len(inf.Outputs) == 0 || len(inf.Outputs[0].Data) != len(f.rows)*per {
				t.Fatalf("v2 outputs %+v", inf.Outputs)
			}
			for i := range f.rows {
				if got := inf.Outputs[0].Data[i*per : (i+1)*per]; !rowClose(got, f.want[i], f.tol) {
					bad++
					if bad < 10 {
						t.Errorf("v2 row %d: got %v, want %v", i, got, f.want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d rows differ", bad)
			}
		})
	}
}

func rowClose(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !closeEnough(got[i], want[i], tol) {
			return false
		}
	}
	return true
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, url string, body []byte) httpResult {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	must(t, err, "POST %s", url)
	defer resp.Body.Close()
	r := httpResult{resp.StatusCode, resp.Header, readAll(t, resp.Body)}
	if r.status != 200 {
		t.Fatalf("POST %s: %d %s", url, r.status, r.body)
	}
	return r
}

func get(t *testing.T, url string) httpResult {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err, "GET %s", url)
	defer resp.Body.Close()
	r := httpResult{resp.StatusCode, resp.Header, readAll(t, resp.Body)}
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", url, r.status, r.body)
	}
	return r
}

// TestSwitchVersionsUnderLoad flips an endpoint between two versions while
// clients call it without pause: no request may fail, and both versions
// must answer.
func TestSwitchVersionsUnderLoad(t *testing.T) {
	s := startServer(t)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	s.cli(t, "model", "push", "bc", model)
	s.cli(t, "model", "push", "bc", model, "--description", "same file, new version")
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	header, rows := readCSV(t, filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))
	inst := map[string]any{}
	for j, h := range header {
		inst[h] = rows[0][j]
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{inst}})

	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var seen sync.Map
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(s.URL+"/v1/endpoints/bc:predict", "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				b := new(bytes.Buffer)
				_, _ = b.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Errorf("status %d: %s", resp.StatusCode, b)
					continue
				}
				seen.Store(resp.Header.Get("Sluice-Model-Version"), true)
				ok.Add(1)
			}
		}()
	}
	c := s.client()
	for i := 0; i < 40; i++ {
		v := strconv.Itoa(1 + i%2)
		if _, err := c.UpdateEndpoint(t.Context(), "bc", apiclient.UpdateEndpointRequest{Version: v}); err != nil {
			t.Errorf("set-version %s: %v", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests succeeded, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed while switching versions", failed.Load())
	}
	for _, v := range []string{"1", "2"} {
		if _, ok := seen.Load(v); !ok {
			t.Errorf("version %s never answered", v)
		}
	}
}

// TestGracefulDrain sends SIGTERM while a request is in flight (its body
// only half sent) and checks the request still gets its answer.
func TestGracefulDrain(t *testing.T) {
	s := startServer(t)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "diabetes.json")
	s.cli(t, "model", "push", "diabetes", model)
	s.cli(t, "endpoint", "create", "diabetes", "--model", "diabetes", "--version", "1")
	body := []byte(`{"instances":[{"age":0.03,"sex":0.05,"bmi":0.06,"bp":0.02,"s1":-0.04,"s2":-0.03,"s3":-0.04,"s4":-0.002,"s5":0.02,"s6":-0.017}]}`)

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	must(t, err, "dial")
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/endpoints/diabetes:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	_, err = conn.Write(body[:10])
	must(t, err, "write")
	time.Sleep(200 * time.Millisecond) // let the server start reading the body
	must(t, s.cmd.Process.Signal(syscall.SIGTERM), "SIGTERM")
	time.Sleep(300 * time.Millisecond) // the server is now draining
	_, err = conn.Write(body[10:])
	must(t, err, "write rest")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	must(t, err, "reading the answer to the in-flight request")
	b := readAll(t, resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"predictions"`)) {
		t.Fatalf("in-flight request got %d %s", resp.StatusCode, b)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit after draining")
	}
}
