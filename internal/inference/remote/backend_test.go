package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// The tests talk to a real model server in another process: the test
// binary itself, re-executed with backendEnv set (as Prometheus's tests
// run the prometheus binary). It serves one model "m" over both
// protocols, computing the sum and the maximum of each row of its
// [N, 4] input "x", and can be told to be slow, fail, or drop
// connections through POST /control.

// backendEnv, when set, makes the test binary a backend listening on its
// value ("" for any port on 127.0.0.1).
const backendEnv = "SLUICE_REMOTE_TEST_BACKEND"

func TestMain(m *testing.M) {
	if addr, ok := os.LookupEnv(backendEnv); ok {
		os.Exit(runBackend(addr))
	}
	os.Exit(m.Run())
}

// runBackend serves until stdin closes (the test process went away) or
// the process is killed.
func runBackend(addr string) int {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A restarted backend takes its predecessor's port, which the kernel
	// may hold for a moment.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Since(start) > 5*time.Second {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		return 1
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{Handler: newBackend().handler(), ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln)
	return 0
}

// features is the number of columns of the backend model's input.
const features = 4

// backend is the test model server.
type backend struct {
	mu   sync.Mutex
	mode backendMode // guarded by mu

	calls atomic.Int64 // inference calls received
}

// backendMode is what POST /control sets; each call replaces it whole.
type backendMode struct {
	delay    time.Duration // before answering an inference call
	status   int           // answer inference calls with this status and {"error": msg}
	msg      string
	drop     bool // close the connection without answering
	notReady bool // readiness and status endpoints answer 503
}

func newBackend() *backend { return &backend{} }

func (b *backend) get() backendMode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

func (b *backend) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"m","versions":["1"],"platform":"sluice-test","inputs":[{"name":"x","datatype":"FP64","shape":[-1,%d]}],"outputs":[{"name":"sum","datatype":"FP64","shape":[-1]},{"name":"max","datatype":"FP32","shape":[-1]}]}`, features)
	})
	ready := func(w http.ResponseWriter, r *http.Request) {
		if b.get().notReady {
			http.Error(w, `{"error":"not ready"}`, http.StatusServiceUnavailable)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			fmt.Fprint(w, `{"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`)
		}
	}
	mux.HandleFunc("GET /v2/models/m/ready", ready)
	mux.HandleFunc("GET /v1/models/m", ready)
	mux.HandleFunc("POST /v2/models/m/infer", func(w http.ResponseWriter, r *http.Request) {
		if b.fault(w, r) {
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		req, err := oip.DecodeInferRequest(body, oip.Limits{})
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if len(req.Inputs) != 1 || req.Inputs[0].Name != "x" {
			writeError(w, http.StatusBadRequest, "expected one input named x")
			return
		}
		rows, data, err := inference.Dense64(&req.Inputs[0], features)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		sum, mx := rowStats(rows, data)
		maxF := make([]float32, rows)
		for i, v := range mx {
			maxF[i] = float32(v)
		}
		resp := &oip.InferResponse{ModelName: "m", ID: req.ID, Outputs: []inference.Tensor{
			{Name: "sum", Datatype: inference.FP64, Shape: []int64{int64(rows)}, F64: sum},
			{Name: "max", Datatype: inference.FP32, Shape: []int64{int64(rows)}, F32: maxF},
		}}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(oip.AppendInferResponse(nil, resp))
	})
	mux.HandleFunc("POST /v1/models/m:predict", func(w http.ResponseWriter, r *http.Request) {
		if b.fault(w, r) {
			return
		}
		var req struct {
			Instances [][]float64 `json:"instances"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		flat := make([]float64, 0, len(req.Instances)*features)
		for i, row := range req.Instances {
			if len(row) != features {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("instances[%d] has %d values, want %d", i, len(row), features))
				return
			}
			flat = append(flat, row...)
		}
		sum, _ := rowStats(len(req.Instances), flat)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": sum})
	})
	mux.HandleFunc("POST /control", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var m backendMode
		m.delay, _ = time.ParseDuration(q.Get("delay"))
		m.status, _ = strconv.Atoi(q.Get("status"))
		m.msg = q.Get("msg")
		m.drop = q.Get("drop") == "1"
		m.notReady = q.Get("ready") == "0"
		b.mu.Lock()
		b.mode = m
		b.mu.Unlock()
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", b.calls.Load())
	})
	return mux
}

// fault applies the current mode to an inference call and reports
// whether it answered.
func (b *backend) fault(w http.ResponseWriter, r *http.Request) bool {
	b.calls.Add(1)
	m := b.get()
	if m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case m.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	case m.status != 0:
		writeError(w, m.status, m.msg)
		return true
	}
	return false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(b)
}

// rowStats returns the sum and maximum of each row.
func rowStats(rows int, data []float64) (sum, mx []float64) {
	sum, mx = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		row := data[i*features : (i+1)*features]
		mx[i] = row[0]
		for _, v := range row {
			sum[i] += v
			mx[i] = max(mx[i], v)
		}
	}
	return sum, mx
}

// proc is a backend process.
type proc struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
}

// startBackend starts a backend process listening on addr ("" for any
// port) and stops it at the end of the test.
func startBackend(t testing.TB, addr string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), backendEnv+"="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: stdin}
	t.Cleanup(p.stop)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		got, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			t.Fatalf("backend said %q, want \"listening on ADDR\"", line)
		}
		p.addr = got
	case <-time.After(20 * time.Second):
		t.Fatal("backend did not start within 20s")
	}
	return p
}

// stop kills the backend and waits for it; idempotent.
func (p *proc) stop() {
	p.once.Do(func() {
		p.stdin.Close()
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

// v2URL and tfURL are the model's URLs for each protocol.
func (p *proc) v2URL() string { return "http://" + p.addr + "/v2/models/m" }
func (p *proc) tfURL() string { return "http://" + p.addr + "/v1/models/m" }

// set replaces the backend's mode, e.g. set(t, "delay", "2s").
func (p *proc) set(t testing.TB, kv ...string) {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	resp, err := http.Post("http://"+p.addr+"/control?"+q.Encode(), "text/plain", nil)
	if err != nil {
		t.Fatalf("setting backend mode: %v", err)
	}
	resp.Body.Close()
}

// calls returns how many inference calls the backend received.
func (p *proc) calls(t testing.TB) int {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/stats")
	if err != nil {
		t.Fatalf("reading backend stats: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(string(b))
	return n
}

// testSignature is the backend model's signature with feature names.
func testSignature() *inference.Signature {
	return &inference.Signature{
		Inputs: []inference.TensorSpec{{
			Name: "x", Datatype: inference.FP64, Shape: []int64{-1, features},
			Features: []inference.Feature{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}},
		}},
		Outputs: []inference.TensorSpec{{Name: "sum", Datatype: inference.FP64, Shape: []int64{-1}}},
	}
}

// load loads a document and closes the model at the end of the test.
func load(t testing.TB, doc Document, opts inference.LoadOptions) *Model {
	t.Helper()
	artifact, err := doc.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	m, err := Format{}.Load(context.Background(), artifact, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = m.(*Model).Close() })
	return m.(*Model)
}

// rowsTensor returns rows as an FP64 [N, 4] input named x.
func rowsTensor(rows ...[]float64) inference.Tensor {
	t := inference.Tensor{Name: "x", Datatype: inference.FP64, Shape: []int64{int64(len(rows)), features}}
	for _, r := range rows {
		t.F64 = append(t.F64, r...)
	}
	return t
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
	}
}
