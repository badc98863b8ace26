package remote

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
)

// holdFirst starts a raw server that answers every request with the sum
// of its row, but holds the answer to the first POST until release is
// closed, and answers a 400 to rows whose first value is reject.
func holdFirst(t *testing.T, release <-chan struct{}, reject float64) *rawServer {
	var posts atomic.Int64
	return startRaw(t, func(_ int64, req *http.Request, body []byte) (string, bool) {
		if req.Method != http.MethodPost {
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
		}
		if posts.Add(1) == 1 {
			<-release
		}
		if reject != 0 && containsRow(body, reject) {
			return "HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\n\r\n{\"error\":\"nope\"}", false
		}
		return sumAnswer(body, ""), false
	})
}

// containsRow reports whether a v2 request body's data starts with v.
func containsRow(body []byte, v float64) bool {
	return bytes.Contains(body, []byte(`"data":[`+strconv.FormatFloat(v, 'g', -1, 64)+`,`))
}

// TestCoalesce: calls made while another is in flight go out together on
// one connection, each gets its own answer, and a rejected one fails
// alone.
func TestCoalesce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pipeline int
		calls    int   // made while the first is held
		reject   int   // index of a call the server rejects, or -1
		batches  []int // the sizes of the batches they make
	}{
		{name: "four calls in one batch", pipeline: 8, calls: 4, reject: -1, batches: []int{4}},
		{name: "a batch is at most pipeline calls", pipeline: 2, calls: 4, reject: -1, batches: []int{2, 2}},
		{name: "a rejected call fails alone", pipeline: 8, calls: 5, reject: 2, batches: []int{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			reject := 0.0
			if tc.reject >= 0 {
				reject = float64(10*tc.reject + 1000)
			}
			s := holdFirst(t, release, reject)
			m := load(t, Document{URLs: []string{"http://" + s.ln.Addr().String() + "/v2/models/m"}, Signature: testSignature(), Pipeline: tc.pipeline}, inference.LoadOptions{})
			if m.co == nil {
				t.Fatal("a document with pipeline > 1 built no coalescer")
			}
			// The first call of a batch waits, instead of yielding
			// once, until the batch has the size the test expects.
			var batch atomic.Int64
			m.co.yield = func(g *gather) {
				k := int(batch.Add(1) - 1)
				if k >= len(tc.batches) {
					t.Errorf("batch %d opened, want %d batches", k+1, len(tc.batches))
					return
				}
				waitFor(t, 5*time.Second, "calls joining the batch", func() bool {
					m.co.mu.Lock()
					defer m.co.mu.Unlock()
					return len(g.calls) == tc.batches[k]
				})
			}

			held := make(chan error, 1)
			go func() {
				_, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
				held <- err
			}()
			waitFor(t, 5*time.Second, "the first call in flight", func() bool { return m.co.inflight.Load() == 1 })

			type result struct {
				out []inference.Tensor
				err error
			}
			results := make([]result, tc.calls)
			var wg sync.WaitGroup
			for i := range tc.calls {
				wg.Go(func() {
					first := float64(10*i + 1000)
					out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{first, 1, 2, 3})})
					results[i] = result{out, err}
				})
			}
			wg.Wait()
			close(release)
			if err := <-held; err != nil {
				t.Fatalf("held call: %v", err)
			}
			for i, r := range results {
				if i == tc.reject {
					var ie *inference.InputError
					if !errors.As(r.err, &ie) {
						t.Errorf("call %d: %v, want an input error", i, r.err)
					}
					continue
				}
				want := float64(10*i + 1000 + 6)
				if r.err != nil || len(r.out) != 1 || len(r.out[0].F64) != 1 || r.out[0].F64[0] != want {
					t.Errorf("call %d: %v, %v; want sum %v", i, r.out, r.err, want)
				}
			}
			var want int64
			for _, n := range tc.batches {
				want += int64(n - 1)
			}
			if got := s.pipelined.Load(); got != want {
				t.Errorf("%d requests arrived pipelined, want %d", got, want)
			}
			if n := m.co.inflight.Load(); n != 0 {
				t.Errorf("%d calls in flight after all returned", n)
			}
		})
	}
}

// TestCoalesceAlone: a call with nothing else in flight, one with a
// deadline of its own, and one carrying a span go out on their own; so do
// all calls of a document without pipeline.
func TestCoalesceAlone(t *testing.T) {
	s := startRaw(t, func(_ int64, req *http.Request, body []byte) (string, bool) {
		if req.Method != http.MethodPost {
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
		}
		return sumAnswer(body, ""), false
	})
	url := "http://" + s.ln.Addr().String() + "/v2/models/m"
	if m := load(t, Document{URLs: []string{url}, Signature: testSignature()}, inference.LoadOptions{}); m.co != nil {
		t.Error("a document without pipeline built a coalescer")
	}
	if m := load(t, Document{URLs: []string{url}, Signature: testSignature(), Pipeline: 1}, inference.LoadOptions{}); m.co != nil {
		t.Error("a document with pipeline 1 built a coalescer")
	}
	m := load(t, Document{URLs: []string{url}, Signature: testSignature(), Pipeline: 8}, inference.LoadOptions{})
	m.co.yield = func(*gather) { t.Error("a call that must go alone yielded for a batch") }
	in := []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}
	if out, err := m.Predict(context.Background(), in); err != nil || out[0].F64[0] != 10 {
		t.Fatalf("alone: %v, %v", out, err)
	}
	m.co.inflight.Add(1) // as if another call were in flight
	defer m.co.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := m.Predict(ctx, in); err != nil || out[0].F64[0] != 10 {
		t.Fatalf("with a deadline: %v, %v", out, err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	if out, err := m.Predict(trace.ContextWithSpanContext(context.Background(), sc), in); err != nil || out[0].F64[0] != 10 {
		t.Fatalf("with a span: %v, %v", out, err)
	}
	if got := s.pipelined.Load(); got != 0 {
		t.Errorf("%d requests arrived pipelined, want 0", got)
	}
}

// TestCoalesceConcurrent: many callers at once against a net/http server,
// with the real yield: every caller gets the answer to its own row.
func TestCoalesceConcurrent(t *testing.T) {
	p := startBackend(t, "")
	m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature(), Pipeline: 16}, inference.LoadOptions{})
	const callers, each = 32, 50
	var wg sync.WaitGroup
	var bad atomic.Int64
	for c := range callers {
		wg.Go(func() {
			for k := range each {
				first := float64(c*1000 + k)
				out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{first, 1, 2, 3})})
				if err != nil || len(out) == 0 || len(out[0].F64) != 1 || out[0].F64[0] != first+6 {
					if bad.Add(1) <= 5 {
						t.Errorf("caller %d call %d: %v, %v; want sum %v", c, k, out, err, first+6)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := m.co.inflight.Load(); n != 0 {
		t.Errorf("%d calls in flight after all returned", n)
	}
}

// TestCoalesceEarlyAnswer: a call of a batch returns as soon as its
// answer is in, not when the whole batch is.
func TestCoalesceEarlyAnswer(t *testing.T) {
	first, last := make(chan struct{}), make(chan struct{})
	var posts atomic.Int64
	s := startRaw(t, func(_ int64, req *http.Request, body []byte) (string, bool) {
		if req.Method != http.MethodPost {
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
		}
		switch posts.Add(1) {
		case 1: // the call that keeps another in flight
			<-first
		case 4: // the last call of the batch
			<-last
		}
		return sumAnswer(body, ""), false
	})
	m := load(t, Document{URLs: []string{"http://" + s.ln.Addr().String() + "/v2/models/m"}, Signature: testSignature(), Pipeline: 8}, inference.LoadOptions{})
	m.co.yield = func(g *gather) {
		waitFor(t, 5*time.Second, "three calls in the batch", func() bool {
			m.co.mu.Lock()
			defer m.co.mu.Unlock()
			return len(g.calls) == 3
		})
	}
	in := func(v float64) []inference.Tensor { return []inference.Tensor{rowsTensor([]float64{v, 1, 2, 3})} }
	held := make(chan error, 1)
	go func() {
		_, err := m.Predict(context.Background(), in(1))
		held <- err
	}()
	waitFor(t, 5*time.Second, "the first call in flight", func() bool { return m.co.inflight.Load() == 1 })

	done := make(chan error, 3)
	for i := range 3 {
		go func() {
			out, err := m.Predict(context.Background(), in(float64(100*i)))
			if err == nil && out[0].F64[0] != float64(100*i+6) {
				err = errors.New("another call's answer")
			}
			done <- err
		}()
	}
	// The batch's second call is answered while its third is held.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no call of the batch returned while its last answer was held")
	}
	select {
	case <-done:
		t.Fatal("two calls returned while the last answer of the batch was held")
	case <-time.After(50 * time.Millisecond):
	}
	close(last)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(first)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
