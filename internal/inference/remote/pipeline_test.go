package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// sumAnswer is the response of the test backend to a v2 request: the sum
// of each row, as output "sum".
func sumAnswer(body []byte, extraHead string) string {
	req, err := oip.DecodeInferRequest(body, oip.Limits{})
	if err != nil {
		msg := fmt.Sprintf(`{"error":%q}`, err.Error())
		return "HTTP/1.1 400 Bad Request\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n" + extraHead + "\r\n" + msg
	}
	rows, data, err := inference.Dense64(&req.Inputs[0], features)
	if err != nil {
		return "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n" + extraHead + "\r\n{}"
	}
	sum, _ := rowStats(rows, data)
	b := oip.AppendInferResponse(nil, &oip.InferResponse{Outputs: []inference.Tensor{{Name: "sum", Datatype: inference.FP64, Shape: []int64{int64(rows)}, F64: sum}}})
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n" + extraHead + "\r\n" + string(b)
}

// pipeBatch is n one-row inputs; row i sums to 10*i+6.
func pipeBatch(n int) [][]inference.Tensor {
	batch := make([][]inference.Tensor, n)
	for i := range batch {
		batch[i] = []inference.Tensor{rowsTensor([]float64{float64(10 * i), 1, 2, 3})}
	}
	return batch
}

// pipeResult is what PredictPipelined reported for one element.
type pipeResult struct {
	calls int
	out   []inference.Tensor
	err   error
}

func predictPipelined(ctx context.Context, m *Model, batch [][]inference.Tensor) []pipeResult {
	res := make([]pipeResult, len(batch))
	m.PredictPipelined(ctx, batch, func(i int, out []inference.Tensor, err error) {
		res[i].calls++
		res[i].out, res[i].err = out, err
	})
	return res
}

func TestPredictPipelined(t *testing.T) {
	const n = 16
	for _, tc := range []struct {
		name string
		// answer answers the k-th POST (from 0) on a connection's c-th
		// request (from 0).
		answer func(k, c int64, body []byte) (string, bool)
		// fail reports whether element i must fail, and with what.
		fail func(i int, err error) bool
		// maxConns bounds the connections the batch may use.
		maxConns int64
	}{
		{
			name:     "pipelined on one connection",
			answer:   func(_, _ int64, body []byte) (string, bool) { return sumAnswer(body, ""), false },
			maxConns: 1,
		},
		{
			name:     "server closes after each response",
			answer:   func(_, _ int64, body []byte) (string, bool) { return sumAnswer(body, "Connection: close\r\n"), true },
			maxConns: n,
		},
		{
			name: "HTTP/1.0 server without keep-alive, body to EOF",
			answer: func(_, _ int64, body []byte) (string, bool) {
				resp := sumAnswer(body, "")
				resp = "HTTP/1.0" + resp[len("HTTP/1.1"):]
				return resp, true
			},
			maxConns: n,
		},
		{
			name: "Connection: close in the middle of the pipeline",
			answer: func(_, c int64, body []byte) (string, bool) {
				if c == 4 {
					return sumAnswer(body, "Connection: close\r\n"), true
				}
				return sumAnswer(body, ""), false
			},
			maxConns: 4,
		},
		{
			name: "connection dropped without a word after 3 responses",
			answer: func(_, c int64, body []byte) (string, bool) {
				return sumAnswer(body, ""), c == 2
			},
			maxConns: 6,
		},
		{
			name: "malformed 6th response",
			answer: func(k, _ int64, body []byte) (string, bool) {
				if k == 5 {
					return "HTTP/1.1 2x0 OK\r\n\r\n", true
				}
				return sumAnswer(body, ""), false
			},
			maxConns: 2,
		},
		{
			name: "one input rejected",
			answer: func(k, _ int64, body []byte) (string, bool) {
				if k == 3 {
					return "HTTP/1.1 400 Bad Request\r\nContent-Length: 17\r\n\r\n{\"error\":\"nope\"}\n", false
				}
				return sumAnswer(body, ""), false
			},
			fail: func(i int, err error) bool {
				var ie *inference.InputError
				return i == 3 && errors.As(err, &ie)
			},
			maxConns: 1,
		},
		{
			name: "one answer 503, no other replica",
			answer: func(k, _ int64, body []byte) (string, bool) {
				if k == 7 {
					return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", false
				}
				return sumAnswer(body, ""), false
			},
			fail: func(i int, err error) bool {
				return i == 7 && errors.Is(err, inference.ErrBackendUnavailable)
			},
			maxConns: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var posts atomic.Int64
			s := startRaw(t, func(_ int64, req *http.Request, body []byte) (string, bool) {
				if req.Method != http.MethodPost {
					return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
				}
				k := posts.Add(1) - 1
				return tc.answer(k, connRequest(req), body)
			})
			m := load(t, Document{URLs: []string{"http://" + s.ln.Addr().String() + "/v2/models/m"}, Signature: testSignature()}, inference.LoadOptions{})
			conns := s.conns.Load()
			res := predictPipelined(context.Background(), m, pipeBatch(n))
			for i, r := range res {
				if r.calls != 1 {
					t.Errorf("element %d: done called %d times, want 1", i, r.calls)
					continue
				}
				if tc.fail != nil && tc.fail(i, r.err) {
					continue
				}
				if r.err != nil || len(r.out) != 1 || len(r.out[0].F64) != 1 || r.out[0].F64[0] != float64(10*i+6) {
					t.Errorf("element %d: %v, %v; want sum %d", i, r.out, r.err, 10*i+6)
				}
			}
			if got := s.conns.Load() - conns; got > tc.maxConns {
				t.Errorf("used %d connections, want at most %d", got, tc.maxConns)
			}
		})
	}
}

// connRequest is the index of req among its connection's requests, which
// rawServer sets in a header of its own.
func connRequest(req *http.Request) int64 {
	n, _ := strconv.ParseInt(req.Header.Get(rawConnRequest), 10, 64)
	return n
}

// TestPredictPipelinedNetHTTP: a net/http server answers a pipelined
// batch in order, on one connection.
func TestPredictPipelinedNetHTTP(t *testing.T) {
	p := startBackend(t, "")
	m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
	for round := range 3 {
		res := predictPipelined(context.Background(), m, pipeBatch(16))
		for i, r := range res {
			if r.calls != 1 || r.err != nil || len(r.out) == 0 || r.out[0].F64[0] != float64(10*i+6) {
				t.Fatalf("round %d, element %d: %d calls, %v, %v; want sum %d", round, i, r.calls, r.out, r.err, 10*i+6)
			}
		}
	}
	if idle := len(m.replicas[0].pool.idle); idle != 1 {
		t.Errorf("%d idle connections after three batches, want 1", idle)
	}
}

// TestPredictPipelinedErrors: inputs the signature rejects fail alone;
// a timeout fails every call left; a closed model fails them all; https
// replicas are called one by one.
func TestPredictPipelinedErrors(t *testing.T) {
	p := startBackend(t, "")
	t.Run("bad input", func(t *testing.T) {
		m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
		batch := pipeBatch(4)
		batch[2] = []inference.Tensor{{Name: "nope", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{1}}}
		for i, r := range predictPipelined(context.Background(), m, batch) {
			var ie *inference.InputError
			if i == 2 && (r.calls != 1 || !errors.As(r.err, &ie)) || i != 2 && (r.calls != 1 || r.err != nil) {
				t.Errorf("element %d: %d calls, %v", i, r.calls, r.err)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		slow := startBackend(t, "")
		slow.set(t, "delay", "10s")
		m := load(t, Document{URLs: []string{slow.v2URL()}, Timeout: 200 * time.Millisecond, Signature: testSignature()}, inference.LoadOptions{})
		start := time.Now()
		for i, r := range predictPipelined(context.Background(), m, pipeBatch(8)) {
			if r.calls != 1 || !errors.Is(r.err, inference.ErrTimeout) {
				t.Errorf("element %d: %d calls, %v; want ErrTimeout", i, r.calls, r.err)
			}
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("a batch timing out after 200ms took %s", took)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		slow := startBackend(t, "")
		slow.set(t, "delay", "10s")
		m := load(t, Document{URLs: []string{slow.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		for i, r := range predictPipelined(ctx, m, pipeBatch(8)) {
			if r.calls != 1 || !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("element %d: %d calls, %v; want context.DeadlineExceeded", i, r.calls, r.err)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
		_ = m.Close()
		for i, r := range predictPipelined(context.Background(), m, pipeBatch(3)) {
			if r.calls != 1 || !errors.Is(r.err, inference.ErrBackendUnavailable) {
				t.Errorf("element %d: %d calls, %v", i, r.calls, r.err)
			}
		}
	})
	t.Run("transport path", func(t *testing.T) {
		m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
		useTransport(m)
		for i, r := range predictPipelined(context.Background(), m, pipeBatch(5)) {
			if r.calls != 1 || r.err != nil || r.out[0].F64[0] != float64(10*i+6) {
				t.Errorf("element %d: %d calls, %v, %v", i, r.calls, r.out, r.err)
			}
		}
	})
	t.Run("503 retried on the other replica", func(t *testing.T) {
		bad := startBackend(t, "")
		bad.set(t, "status", "503", "msg", "overloaded")
		m := load(t, Document{URLs: []string{bad.v2URL(), p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
		for range 2 { // round robin: once each replica first
			for i, r := range predictPipelined(context.Background(), m, pipeBatch(4)) {
				if r.calls != 1 || r.err != nil || r.out[0].F64[0] != float64(10*i+6) {
					t.Errorf("element %d: %d calls, %v, %v", i, r.calls, r.out, r.err)
				}
			}
		}
	})
}
