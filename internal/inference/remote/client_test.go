package remote

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// rawServer answers each request on a connection with the next of its
// canned responses, byte for byte, so that tests can send what net/http
// would never write. It counts connections and requests.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	reqs  atomic.Int64
	// pipelined counts the requests that arrived before the previous
	// one on their connection was answered.
	pipelined atomic.Int64
	// answer returns the bytes to write for the n-th request (from 0) and
	// whether to close the connection afterwards.
	answer func(n int64, req *http.Request, body []byte) (resp string, closeAfter bool)
	wg     sync.WaitGroup
}

// rawConnRequest is the header rawServer adds to each request it reads:
// the request's index on its connection, from 0.
const rawConnRequest = "X-Raw-Conn-Request"

func startRaw(t *testing.T, answer func(n int64, req *http.Request, body []byte) (string, bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, answer: answer}
	s.wg.Go(s.serve)
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.wg.Go(func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for i := 0; ; i++ {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				req.Header.Set(rawConnRequest, strconv.Itoa(i))
				body, err := io.ReadAll(req.Body)
				if err != nil {
					return
				}
				if br.Buffered() > 0 {
					s.pipelined.Add(1)
				}
				resp, closeAfter := s.answer(s.reqs.Add(1)-1, req, body)
				if _, err := io.WriteString(c, resp); err != nil || closeAfter {
					return
				}
			}
		})
	}
}

func (s *rawServer) url() *url.URL {
	return &url.URL{Scheme: "http", Host: s.ln.Addr().String(), Path: "/v2/models/m/infer"}
}

// rawPool returns a pool and a request for s.
func rawPool(s *rawServer, body string) (*connPool, []byte) {
	u := s.url()
	p := newConnPool(u, newDialer(time.Second))
	head := requestHead(u, http.Header{"User-Agent": {"sluice"}})
	req := append(head, strconv.Itoa(len(body))+"\r\n\r\n"+body...)
	return p, req
}

func call(t *testing.T, p *connPool, req []byte) (response, error) {
	t.Helper()
	return p.roundTrip(context.Background(), req, deadline{t: time.Now().Add(5 * time.Second)}, nil)
}

func TestClientFraming(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		wantBody   string
		wantStatus int
		wantConns  int64 // after two calls
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", 200, 1},
		{"no-reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 1},
		{"lf-only", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "ok", 200, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n", "hello!", 200, 1},
		{"chunked-upper-hex", "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", "0123456789", 200, 1},
		{"interim-100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 1},
		{"no-content", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "", 204, 1},
		{"connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 2},
		{"connection-list", "HTTP/1.1 200 OK\r\nConnection: x-foo, Close\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 2},
		{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 2},
		{"http10-keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 1},
		{"error-status", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\n{\"error\":\"busy\"}\n", "{\"error\":\"busy\"}\n", 503, 1},
		{"long-header", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 40<<10) + "\r\nContent-Length: 2\r\n\r\nok", "ok", 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) { return tc.resp, false })
			p, req := rawPool(s, `{"inputs":[]}`)
			defer p.close()
			for i := range 2 {
				resp, err := call(t, p, req)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if resp.status != tc.wantStatus || string(resp.body) != tc.wantBody {
					t.Fatalf("call %d: status %d body %q, want %d %q", i, resp.status, resp.body, tc.wantStatus, tc.wantBody)
				}
			}
			if got := s.conns.Load(); got != tc.wantConns {
				t.Errorf("%d connections for two calls, want %d", got, tc.wantConns)
			}
		})
	}
}

// TestClientReadToEOF: a response framed by the end of the connection.
func TestClientReadToEOF(t *testing.T) {
	s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 100<<10), true
	})
	p, req := rawPool(s, "{}")
	defer p.close()
	for i := range 2 {
		resp, err := call(t, p, req)
		if err != nil || len(resp.body) != 100<<10 {
			t.Fatalf("call %d: %d bytes, %v; want %d bytes", i, len(resp.body), err, 100<<10)
		}
	}
	if got := s.conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2 (the body ends with the connection)", got)
	}
}

func TestClientMalformed(t *testing.T) {
	for _, tc := range []struct{ name, resp, want string }{
		{"garbage", "hello\r\n\r\n", "status line"},
		{"http2", "HTTP/2.0 200 OK\r\n\r\n", "status line"},
		{"http12", "HTTP/1.2 200 OK\r\n\r\n", "unsupported version"},
		{"status-letters", "HTTP/1.1 2x0 OK\r\n\r\n", "status line"},
		{"conflicting-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "conflicting Content-Length"},
		{"negative-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
		{"gzip-coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"},
		{"bad-chunk-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"},
		{"chunk-overrun", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "longer than its size"},
		{"header-without-colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "header line"},
		{"truncated-body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "unexpected EOF"},
		{"switching-protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) { return tc.resp, true })
			p, req := rawPool(s, "{}")
			defer p.close()
			_, err := call(t, p, req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestClientTooLarge(t *testing.T) {
	s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(maxResponseBytes+1) + "\r\n\r\n", true
	})
	p, req := rawPool(s, "{}")
	defer p.close()
	if _, err := call(t, p, req); !errors.Is(err, errTooLarge) {
		t.Fatalf("err = %v, want errTooLarge", err)
	}
}

// TestClientRequest checks what reaches the server: one request line,
// the headers, the body.
func TestClientRequest(t *testing.T) {
	type seen struct {
		method, uri, host, ua, ct, auth string
		body                            string
		length                          int64
	}
	got := make(chan seen, 1)
	s := startRaw(t, func(_ int64, r *http.Request, body []byte) (string, bool) {
		got <- seen{r.Method, r.RequestURI, r.Host, r.UserAgent(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body), r.ContentLength}
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
	})
	u := s.url()
	u.Path = "/v2/models/a b/versions/3/infer"
	h := http.Header{"User-Agent": {"sluice"}, "Content-Type": {"application/json"}, "Authorization": {"Bearer x"}, "X-Idempotency-Key": nil}
	p := newConnPool(u, newDialer(time.Second))
	defer p.close()
	body := `{"inputs":[{"name":"x"}]}`
	req := append(requestHead(u, h), strconv.Itoa(len(body))+"\r\n\r\n"+body...)
	if _, err := call(t, p, req); err != nil {
		t.Fatal(err)
	}
	want := seen{"POST", "/v2/models/a%20b/versions/3/infer", s.ln.Addr().String(), "sluice", "application/json", "Bearer x", body, int64(len(body))}
	if g := <-got; g != want {
		t.Errorf("server saw %+v, want %+v", g, want)
	}
}

// TestClientStaleConnection: a kept-alive connection the server closed
// while it was idle is replaced without failing the call.
func TestClientStaleConnection(t *testing.T) {
	s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) {
		// Close after answering, without saying so: the client keeps
		// the connection and finds it dead on the next call.
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true
	})
	p, req := rawPool(s, "{}")
	defer p.close()
	for i := range 3 {
		if i > 0 {
			time.Sleep(20 * time.Millisecond) // let the FIN arrive
		}
		resp, err := call(t, p, req)
		if err != nil || string(resp.body) != "ok" {
			t.Fatalf("call %d: %q, %v", i, resp.body, err)
		}
	}
	if got := s.reqs.Load(); got != 3 {
		t.Errorf("server got %d requests, want 3", got)
	}
}

// TestClientCancel: cancelling the caller's context interrupts a call
// waiting for its answer.
func TestClientCancel(t *testing.T) {
	p := startBackend(t, "")
	p.set(t, "delay", "10s")
	m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.Predict(ctx, []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Predict = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Predict took %s after cancelling", took)
	}
	// The connection was closed, not reused: the next call works.
	p.set(t)
	if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); err != nil {
		t.Errorf("Predict after a cancelled call: %v", err)
	}
}

// TestTransportPath runs the calls of TestPredict, TestTimeout and the
// retry through net/http, the path https replicas take.
func TestTransportPath(t *testing.T) {
	p1, p2 := startBackend(t, ""), startBackend(t, "")
	for _, tc := range []struct {
		proto Protocol
		url   string
	}{{V2, p1.v2URL()}, {TFServing, p1.tfURL()}} {
		m := load(t, Document{URLs: []string{tc.url}, Protocol: tc.proto, Signature: testSignature()}, inference.LoadOptions{})
		useTransport(m)
		out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4}, []float64{-1, 0.5, 0, 10})})
		if err != nil || len(out) == 0 || len(out[0].F64) != 2 || out[0].F64[0] != 10 || out[0].F64[1] != 9.5 {
			t.Fatalf("%s: Predict = %v, %v; want sums [10 9.5]", tc.proto, out, err)
		}
	}
	m := load(t, Document{URLs: []string{p1.v2URL(), p2.v2URL()}, Timeout: 300 * time.Millisecond, Signature: testSignature()}, inference.LoadOptions{})
	useTransport(m)
	p1.set(t, "status", "503", "msg", "overloaded")
	for i := range 4 {
		if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); err != nil {
			t.Fatalf("call %d with one replica answering 503: %v", i, err)
		}
	}
	p1.set(t, "delay", "10s")
	p2.set(t, "delay", "10s")
	if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); !errors.Is(err, inference.ErrTimeout) {
		t.Errorf("Predict with slow replicas = %v, want ErrTimeout", err)
	}
}

// useTransport makes m call its replicas through net/http.
func useTransport(m *Model) {
	for _, r := range m.replicas {
		if r.pool != nil {
			r.pool.close()
			r.pool = nil
		}
	}
}
