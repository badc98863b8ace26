package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startModelServer starts a Sluice server that serves the breast cancer
// XGBoost model as endpoint "bc", the model server of the tests below, and
// returns it with the model file's path.
func startModelServer(t *testing.T) (*server, string) {
	backend := startServer(t)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	backend.cli(t, "model", "push", "bc", model)
	backend.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	return backend, model
}

// TestExternalModelServer serves a model from one Sluice server (a real,
// separate Open Inference Protocol v2 server process) through a second one
// with --format http, and checks answers, metadata and the timeout path.
func TestExternalModelServer(t *testing.T) {
	backend, _ := startModelServer(t)

	front := startServer(t)
	front.cli(t, "model", "push", "bc-remote", "--format", "http", "--url", backend.URL+"/v2/models/bc", "--timeout", "2s")
	front.cli(t, "endpoint", "create", "bc", "--model", "bc-remote", "--version", "1")

	rows := strings.TrimSuffix(strings.Repeat("1.5,", 30), ",")
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + rows + `]}]}`)
	direct := post(t, backend.URL+"/v2/models/bc/infer", body)
	via := post(t, front.URL+"/v2/models/bc/infer", body)
	var a, b struct {
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	must(t, json.Unmarshal(direct.body, &a), "direct")
	must(t, json.Unmarshal(via.body, &b), "via")
	if len(a.Outputs) == 0 || len(b.Outputs) == 0 || a.Outputs[0].Data[0] != b.Outputs[0].Data[0] {
		t.Errorf("through the http version %s, directly %s", via.body, direct.body)
	}
	if v := via.header.Get("Sluice-Model-Version"); v != "1" {
		t.Errorf("Sluice-Model-Version = %q", v)
	}

	// A model server that accepts connections and never answers: the call
	// ends with 504 naming the version, not a hang.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err, "listen")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	sig := filepath.Join(t.TempDir(), "sig.json")
	must(t, os.WriteFile(sig, []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,30]}],"outputs":[{"name":"predict","datatype":"FP32","shape":[-1]}]}`), 0o644), "write")
	front.cli(t, "model", "push", "slow", "--format", "http", "--url", "http://"+ln.Addr().String()+"/v2/models/slow", "--timeout", "300ms", "--signature", sig)
	front.cli(t, "endpoint", "create", "slow", "--model", "slow", "--version", "1")
	start := time.Now()
	resp, err := http.Post(front.URL+"/v2/models/slow/infer", "application/json", strings.NewReader(string(body)))
	must(t, err, "post")
	msg := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(msg), "slow version 1") {
		t.Errorf("hanging model server: %d %s, want 504 naming slow version 1", resp.StatusCode, msg)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the timed-out call took %v", took)
	}
}

// TestExternalModelServerPipelined: a version pushed with --pipeline
// answers many concurrent callers, each with the answer to its own row,
// while its calls share connections to the model server (another Sluice
// server).
func TestExternalModelServerPipelined(t *testing.T) {
	backend, model := startModelServer(t)

	front := startServer(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", backend.URL + "/v2/models/bc", "--pipeline", "65"}, "pipeline: 65 is outside 0..64"},
		{[]string{"--url", "https://127.0.0.1:1/v2/models/bc", "--pipeline", "8"}, "pipeline: needs plain http replicas, and urls[0] is https"},
		{[]string{model, "--pipeline", "8"}, "--pipeline goes with --url"},
	} {
		args := append([]string{"model", "push", "bc-remote", "--format", "http"}, tc.args...)
		if tc.args[0] == model {
			args = append([]string{"model", "push", "bc-remote"}, tc.args...)
		}
		if _, stderr, code := front.cliResult(args...); code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("sluice %s: exit %d, %q; want an error containing %q", strings.Join(args, " "), code, stderr, tc.want)
		}
	}
	front.cli(t, "model", "push", "bc-remote", "--format", "http", "--url", backend.URL+"/v2/models/bc", "--pipeline", "8")
	front.cli(t, "endpoint", "create", "bc", "--model", "bc-remote", "--version", "1")
	if out := front.cli(t, "model", "show", "bc-remote@1"); !strings.Contains(out, "Pipeline:    up to 8 calls per connection at once") || !strings.Contains(out, "Server:      "+backend.URL+"/v2/models/bc") {
		t.Errorf("model show of the pipelined version:\n%s", out)
	}

	// Rows that score differently, and their answers from the model
	// server itself.
	const rows = 40
	bodies := make([][]byte, rows)
	want := make([]float64, rows)
	for i := range rows {
		vals := make([]string, 30)
		for j := range vals {
			vals[j] = strconv.FormatFloat(float64((i*7+j*3)%50)/3, 'g', -1, 64)
		}
		bodies[i] = []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.Join(vals, ",") + `]}]}`)
		want[i] = firstOutput(t, post(t, backend.URL+"/v2/models/bc/infer", bodies[i]).body)
	}

	distinct := map[float64]bool{}
	for _, w := range want {
		distinct[w] = true
	}
	if len(distinct) < rows/4 {
		t.Fatalf("the rows score only %d ways: a mixed-up answer could go unseen", len(distinct))
	}

	const callers, each = 32, 25
	errs := make(chan error, callers*each)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for k := range each {
				i := (c*each + k) % rows
				resp, err := http.Post(front.URL+"/v2/models/bc/infer", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				var out struct {
					Outputs []struct {
						Data []float64 `json:"data"`
					} `json:"outputs"`
				}
				switch {
				case err != nil:
					errs <- err
				case resp.StatusCode != http.StatusOK:
					errs <- fmt.Errorf("row %d: %d %s", i, resp.StatusCode, b)
				case json.Unmarshal(b, &out) != nil || len(out.Outputs) == 0 || len(out.Outputs[0].Data) == 0:
					errs <- fmt.Errorf("row %d: answer %s", i, b)
				case out.Outputs[0].Data[0] != want[i]:
					errs <- fmt.Errorf("row %d: %v through the pipelined version, %v from the model server", i, out.Outputs[0].Data[0], want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d calls went wrong", n, callers*each)
	}
}

// firstOutput is the first value of the first output of an answer.
func firstOutput(t *testing.T, body []byte) float64 {
	t.Helper()
	var out struct {
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	must(t, json.Unmarshal(body, &out), "answer %s", body)
	if len(out.Outputs) == 0 || len(out.Outputs[0].Data) == 0 {
		t.Fatalf("answer without outputs: %s", body)
	}
	return out.Outputs[0].Data[0]
}
