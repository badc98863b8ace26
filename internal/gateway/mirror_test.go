package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/remote"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/traffic"
)

// oipBackend is a minimal Open Inference Protocol v2 model server: it
// answers every inference call with the sum of the request's "data"
// values as the single output, so that answers tell requests apart.
type oipBackend struct {
	calls atomic.Int64
}

func (o *oipBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/infer") {
		w.WriteHeader(http.StatusOK)
		return
	}
	o.calls.Add(1)
	var req struct {
		Inputs []struct {
			Data []float64 `json:"data"`
		} `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 {
		http.Error(w, fmt.Sprintf(`{"error":"bad request: %v"}`, err), http.StatusBadRequest)
		return
	}
	sum := 0.0
	for _, v := range req.Inputs[0].Data {
		sum += v
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"model_name":"m","outputs":[{"name":"y","datatype":"FP64","shape":[1],"data":[%g]}]}`, sum)
}

// remoteBackend loads version v of model "m" served by srv.
func remoteBackend(t testing.TB, srv *httptest.Server, v int) *Backend {
	t.Helper()
	doc := `{"format":"sluice.remote/v1","urls":["` + srv.URL + `/v2/models/m"],"timeout":"5s",` +
		`"signature":{"inputs":[{"name":"x","datatype":"FP64","shape":[-1,4]}],"outputs":[{"name":"y","datatype":"FP64","shape":[-1]}]}}`
	m, err := remote.Format{}.Load(context.Background(), []byte(doc), inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.(interface{ Close() error }).Close() })
	return NewBackend("m", v, "http", m, nil)
}

// mirrorGateway is a running gateway with a remote shadow.
type mirrorGateway struct {
	g       *Gateway
	mirror  *Backend
	cmp     *monitor.Comparison
	backend *oipBackend
}

// newMirrorGateway returns a running gateway whose endpoint "m" is
// answered by remote version 1 and shadowed at 100%
// by remote version 2, each on its own model server.
func newMirrorGateway(t testing.TB, mo MirrorOptions, shadow http.Handler) *mirrorGateway {
	t.Helper()
	primary := httptest.NewServer(&oipBackend{})
	t.Cleanup(primary.Close)
	ob := &oipBackend{}
	if shadow == nil {
		shadow = ob
	}
	ssrv := httptest.NewServer(shadow)
	t.Cleanup(ssrv.Close)
	cmp := monitor.NewComparison()
	g := New(Options{Mirror: mo, Comparison: cmp})
	plan, err := traffic.Compile(traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 1}}, Shadow: []traffic.Shadow{{Version: 2, Percent: 100}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb := remoteBackend(t, ssrv, 2)
	g.Swap(&Snapshot{Revision: 1, Endpoints: map[string]*Endpoint{
		"m": {Name: "m", Model: "m", Plan: plan, Backends: map[int]*Backend{1: remoteBackend(t, primary, 1), 2: mb}},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &mirrorGateway{g: g, mirror: mb, cmp: cmp, backend: ob}
}

// copyJob is a mirrored copy of a request whose input row sums to sum.
func (mg *mirrorGateway) copyJob(i int) mirrorJob {
	row := []float64{float64(i), 1, 2, 3}
	in := []inference.Tensor{{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 4}, F64: row}}
	answer := monitor.Prediction{Version: 1, Role: "primary", Values: []float64{float64(i) + 6}, Width: 1}
	return mirrorJob{endpoint: "m", rid: fmt.Sprint(i), backend: mg.mirror, role: "shadow", inputs: in, answer: answer}
}

// waitMirrored waits until n copies have finished, successfully or not.
func (mg *mirrorGateway) waitMirrored(t testing.TB, n uint64) MirrorStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := mg.g.MirrorStats()
		if st.Completed+st.Failed+st.Dropped >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror stats %+v after 20s, want %d copies done", st, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMirrorRemote sends b.N mirrored copies to a version on an
// external model server (in process, sharing the CPUs) as fast as the
// mirroring queue takes them, and reports the process's CPU time per
// copy: gateway and model server together, as on the one-core benchmark
// of docs/benchmarks.md.
func BenchmarkMirrorRemote(b *testing.B) {
	for _, batch := range []int{1, 0} {
		name := "pipeline=off"
		if batch == 0 {
			name = "pipeline=default"
		}
		b.Run(name, func(b *testing.B) {
			mg := newMirrorGateway(b, MirrorOptions{Queue: 1024, Pipeline: batch}, nil)
			jobs := make([]mirrorJob, 256)
			for i := range jobs {
				jobs[i] = mg.copyJob(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				mg.g.mirrors.jobs <- jobs[i%len(jobs)]
			}
			st := mg.waitMirrored(b, uint64(b.N))
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/copy")
			if st.Failed > 0 || st.Dropped > 0 {
				b.Fatalf("mirror stats %+v", st)
			}
		})
	}
}

// TestMirrorRemote mirrors copies to a version on an external model
// server, pipelined or not, and checks that each copy gets its own
// answer and comparison, whatever the server does with connections.
func TestMirrorRemote(t *testing.T) {
	closing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		(&oipBackend{}).ServeHTTP(w, r)
	})
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/infer") {
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		}
	})
	const n = 300
	for _, tc := range []struct {
		name     string
		pipeline int
		shadow   http.Handler
		fail     bool
	}{
		{name: "pipelined", shadow: nil},
		{name: "one by one", pipeline: 1, shadow: nil},
		{name: "server closes after each response", shadow: closing},
		{name: "server fails every call", shadow: failing, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mg := newMirrorGateway(t, MirrorOptions{Queue: n, Workers: 4, Pipeline: tc.pipeline}, tc.shadow)
			for i := range n {
				mg.g.mirrors.jobs <- mg.copyJob(i)
			}
			st := mg.waitMirrored(t, n)
			want := MirrorStats{Completed: n}
			if tc.fail {
				want = MirrorStats{Failed: n}
			}
			if st != want {
				t.Errorf("mirror stats %+v, want %+v", st, want)
			}
			stats := mg.cmp.Stats("m")
			if len(stats) != 1 {
				t.Fatalf("comparisons %+v, want one pair", stats)
			}
			ps := stats[0]
			if tc.fail {
				if ps.Errors != n || ps.Requests != 0 {
					t.Errorf("comparison %+v, want %d errors", ps, n)
				}
				return
			}
			if ps.Requests != n || ps.Errors != 0 || ps.Values != n || ps.MaxAbsDiff != 0 || ps.MirrorLatencyMax <= 0 {
				t.Errorf("comparison %+v, want %d requests with equal answers", ps, n)
			}
			if tc.shadow == nil {
				if calls := mg.backend.calls.Load(); calls != n {
					t.Errorf("model server got %d calls, want %d", calls, n)
				}
			}
		})
	}
}

// batchRecorder is a pipeliner that records the size of each batch it
// passes on, and with gate set holds each batch until gate is closed.
type batchRecorder struct {
	p     pipeliner
	gate  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func (r *batchRecorder) PredictPipelined(ctx context.Context, batch [][]inference.Tensor, done func(int, []inference.Tensor, error)) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(batch))
	r.mu.Unlock()
	if r.gate != nil {
		<-r.gate
	}
	r.p.PredictPipelined(ctx, batch, done)
}

// recorded is the number of copies in the batches recorded so far.
func (r *batchRecorder) recorded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.sizes {
		n += k
	}
	return n
}

// pending is the number of copies waiting in b's lane.
func (g *Gateway) pending(b *Backend) int {
	m := g.mirrors
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.lanes[b]; l != nil {
		return len(l.pending)
	}
	return 0
}

// TestMirrorGather sends copies that arrive together and checks that
// they wait for each other and go in as few batches as the batch size
// allows, each answered.
func TestMirrorGather(t *testing.T) {
	const gather = 300 * time.Millisecond
	for _, tc := range []struct {
		name             string
		pipeline, copies int
		batches          int // at most
		waited           bool
	}{
		{name: "all in one batch after the wait", pipeline: 16, copies: 10, batches: 1, waited: true},
		{name: "full batches go at once", pipeline: 4, copies: 10, batches: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mg := newMirrorGateway(t, MirrorOptions{Queue: 64, Pipeline: tc.pipeline, Gather: gather}, nil)
			rec := &batchRecorder{p: mg.mirror.Runtime.(pipeliner), gate: make(chan struct{})}
			start := time.Now()
			var wg sync.WaitGroup
			for i := range tc.copies {
				wg.Go(func() {
					var w pipeWorker
					mg.g.joinLane(context.Background(), rec, mg.copyJob(i), &w)
				})
			}
			// The batches are held until every copy has joined the lane:
			// a sender that finishes a batch takes what is pending at once,
			// so how the copies split must not depend on how soon their
			// goroutines run.
			for deadline := time.Now().Add(10 * time.Second); mg.g.pending(mg.mirror)+rec.recorded() < tc.copies; {
				if time.Now().After(deadline) {
					t.Fatalf("after 10s, %d copies pending and %d in batches, of %d", mg.g.pending(mg.mirror), rec.recorded(), tc.copies)
				}
				time.Sleep(time.Millisecond)
			}
			close(rec.gate)
			wg.Wait()
			took := time.Since(start)
			if st := mg.g.MirrorStats(); st.Completed != uint64(tc.copies) || st.Failed+st.Dropped != 0 {
				t.Errorf("mirror stats %+v, want %d completed", st, tc.copies)
			}
			sum := 0
			for _, n := range rec.sizes {
				sum += n
				if n > tc.pipeline {
					t.Errorf("batch of %d, more than %d", n, tc.pipeline)
				}
			}
			if sum != tc.copies || len(rec.sizes) > tc.batches {
				t.Errorf("batches %v, want %d copies in at most %d", rec.sizes, tc.copies, tc.batches)
			}
			if tc.waited && took < gather {
				t.Errorf("copies sent after %v, before the %v gathering wait", took, gather)
			}
		})
	}
}
