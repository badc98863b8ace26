package leanhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// routes is a Handler that claims /lean/... and echoes what it read.
type routes struct {
	// block, when not nil, holds requests to /lean/block until closed.
	block   chan struct{}
	started chan struct{}
}

func (h *routes) Route(path []byte) bool { return strings.HasPrefix(string(path), "/lean/") }

func (h *routes) ServeLean(w *Response, r *Request) {
	if r.Path == "/lean/block" {
		h.started <- struct{}{}
		select {
		case <-h.block:
		case <-r.Ctx.Done():
			w.Write(499, "text/plain", []byte("cancelled"))
			return
		}
	}
	if r.Body == nil {
		w.Write(http.StatusRequestEntityTooLarge, "text/plain", []byte("too large"))
		return
	}
	w.SetHeader("X-Seen", r.Lookup("x-test"))
	w.Write(200, "text/plain", []byte(fmt.Sprintf("lean %s q=%s body=%s", r.Path, r.RawQuery, r.Body)))
}

// startLean serves h on a loopback port, with net/http behind it answering
// "net/http PATH".
func startLean(t *testing.T, h Handler, opts Options) (*Server, string) {
	t.Helper()
	return startLeanOn(t, h, opts, nil)
}

// startLeanOn is startLean with the listener passed through wrap (nil: as
// it is).
func startLeanOn(t *testing.T, h Handler, opts Options, wrap func(net.Listener) net.Listener) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	s := New(h, opts)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "net/http %s body=%s", r.URL.Path, b)
	}), ReadHeaderTimeout: opts.ReadHeaderTimeout}
	done := make(chan error, 2)
	go func() { done <- s.Serve(ln) }()
	go func() { done <- hs.Serve(s.Handoff()) }()
	t.Cleanup(func() {
		s.Close()
		hs.Close()
		for i := 0; i < 2; i++ {
			if err := <-done; !errors.Is(err, ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve: %v", err)
			}
		}
	})
	return s, addr
}

func post(path, headers, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", path, headers, len(body), body)
}

// readAnswers reads n answers and returns "STATUS BODY [Connection]" for each.
func readAnswers(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var got []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v (so far %q)", i+1, err, got)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := fmt.Sprintf("%d %s", resp.StatusCode, b)
		if c := resp.Header.Get("Connection"); c != "" {
			s += " [" + c + "]"
		}
		if resp.Close {
			s += " [close]"
		}
		got = append(got, s)
	}
	return got
}

func TestServeAndHandOff(t *testing.T) {
	_, addr := startLean(t, &routes{}, Options{ReadHeaderTimeout: 5 * time.Second, MaxBodyBytes: 100})
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"lean", post("/lean/a?x=1", "X-Test: hi\r\n", "abc"), []string{"200 lean /lean/a q=x=1 body=abc"}},
		{"other route", post("/other", "", "abc"), []string{"200 net/http /other body=abc"}},
		{"pipelined, then handed off", post("/lean/a", "", "1") + post("/lean/b", "", "2") + post("/other", "", "3") + post("/lean/c", "", "4"),
			[]string{"200 lean /lean/a q= body=1", "200 lean /lean/b q= body=2", "200 net/http /other body=3", "200 net/http /lean/c body=4"}},
		{"GET goes to net/http", "GET /lean/a HTTP/1.1\r\nHost: x\r\n\r\n" + post("/lean/a", "", "1"),
			[]string{"200 net/http /lean/a body=", "200 net/http /lean/a body=1"}},
		{"chunked", "POST /lean/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", []string{"200 net/http /lean/a body=z"}},
		{"body larger than the read buffer", post("/lean/big", "", strings.Repeat("b", 90)), []string{"200 lean /lean/big q= body=" + strings.Repeat("b", 90)}},
		{"too large", post("/lean/a", "", strings.Repeat("b", 101)), []string{"413 too large [close]"}},
		{"Connection: close", post("/lean/a", "Connection: close\r\n", "1"), []string{"200 lean /lean/a q= body=1 [close]"}},
		{"HTTP/1.0 keep-alive", "POST /lean/a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n1", []string{"200 lean /lean/a q= body=1 [keep-alive]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(conn, tt.raw)
			got := readAnswers(t, bufio.NewReader(conn), len(tt.want))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBigBodyUsesItsOwnBuffer(t *testing.T) {
	_, addr := startLean(t, &routes{}, Options{MaxBodyBytes: 1 << 20})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := strings.Repeat("z", 3*readBufSize)
	go io.WriteString(conn, post("/lean/a", "", body)+post("/lean/b", "", "after"))
	got := readAnswers(t, bufio.NewReader(conn), 2)
	want := []string{"200 lean /lean/a q= body=" + body, "200 lean /lean/b q= body=after"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%.500s", diff)
	}
}

func TestParseHead(t *testing.T) {
	tests := []struct {
		name, head string
		want       verdict
		close, ka  bool
		length     int64
	}{
		{"plain", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", serveLean, false, false, 12},
		{"any case", "POST /lean/a HTTP/1.1\r\nhost: x\r\ncontent-length:  3 \r\nCONNECTION: Close\r\n\r\n", serveLean, true, false, 3},
		{"HTTP/1.0", "POST /lean/a HTTP/1.0\r\nContent-Length: 1\r\n\r\n", serveLean, true, false, 1},
		{"HTTP/1.0 keep-alive", "POST /lean/a HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n", serveLean, false, true, 1},
		{"other route", "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"GET", "GET /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", handOff, false, false, 0},
		{"absolute form", "POST http://x/lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"no Content-Length", "POST /lean/a HTTP/1.1\r\nHost: x\r\n\r\n", handOff, false, false, 0},
		{"two Content-Lengths", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"signed length", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", handOff, false, false, 0},
		{"no Host", "POST /lean/a HTTP/1.1\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"two Hosts", "POST /lean/a HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"odd Host", "POST /lean/a HTTP/1.1\r\nHost: x/y\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"chunked", "POST /lean/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"Expect", "POST /lean/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"Upgrade", "POST /lean/a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"Content-Encoding", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"space in a name", "POST /lean/a HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"folded line", "POST /lean/a HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"control byte", "POST /lean/a HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"extra field in the line", "POST /lean/a HTTP/1.1 x\r\nHost: x\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
		{"query with a fragment", "POST /lean/a?x#y HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", handOff, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, bad := headEnd([]byte(tt.head))
			if bad || end != len(tt.head) {
				t.Fatalf("headEnd = %d, %v; want %d, false", end, bad, len(tt.head))
			}
			p, v := parseHead([]byte(tt.head), &routes{})
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			if v == serveLean && (p.close != tt.close || p.keepAlive10 != tt.ka || p.contentLength != tt.length) {
				t.Errorf("close %v keep-alive %v length %d; want %v %v %d", p.close, p.keepAlive10, p.contentLength, tt.close, tt.ka, tt.length)
			}
		})
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in       string
		end      int
		bad      bool
		describe string
	}{
		{"POST / HTTP/1.1\r\nA: b\r\n\r\nbody", 25, false, "complete"},
		{"POST / HTTP/1.1\r\nA: b\r\n", 0, false, "incomplete"},
		{"POST / HTTP/1.1\nA: b\n\n", 0, true, "bare LF"},
		{"\r\nPOST / HTTP/1.1\r\n\r\n", 0, true, "leading empty line"},
	}
	for _, tt := range tests {
		end, bad := headEnd([]byte(tt.in))
		if end != tt.end || bad != tt.bad {
			t.Errorf("%s: headEnd = %d, %v; want %d, %v", tt.describe, end, bad, tt.end, tt.bad)
		}
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := startLean(t, &routes{}, Options{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxBodyBytes: 1 << 20})
	tests := []struct {
		name, raw string
		answers   int
	}{
		{"head trickles", "POST /lean/a HTTP/1.1\r\nHost: x\r\n", 0},
		{"body trickles", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{", 0},
		{"idle after an answer", post("/lean/a", "", "1"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tt.raw)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			readAnswers(t, br, tt.answers)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("read after the timeout: %v, want EOF (closed by the server)", err)
			}
		})
	}
}

func TestShutdownDrains(t *testing.T) {
	h := &routes{block: make(chan struct{}), started: make(chan struct{}, 1)}
	s, addr := startLean(t, h, Options{MaxBodyBytes: 100})
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, post("/lean/block", "", "1"))
	<-h.started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// The idle connection is closed, the busy one is not.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(h.block)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(busy)
	got := readAnswers(t, br, 1)
	if want := []string{"200 lean /lean/block q= body=1 [close]"}; !cmp.Equal(got, want) {
		t.Errorf("in-flight answer %q, want %q", got, want)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

func TestShutdownTimeoutCancels(t *testing.T) {
	h := &routes{block: make(chan struct{}), started: make(chan struct{}, 1)}
	s, addr := startLean(t, h, Options{MaxBodyBytes: 100})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, post("/lean/block", "", "1"))
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	if s.ctx.Err() == nil {
		t.Error("the requests' context is still live after a forced shutdown")
	}
}

// TestLoopAllocations bounds what the loop itself allocates per request:
// the handler here allocates nothing but the path (one string).
func TestLoopAllocations(t *testing.T) {
	_, addr := startLean(t, constHandler{}, Options{MaxBodyBytes: 1 << 20})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := []byte(post("/lean/a", "X-A: b\r\n", `{"inputs":[1,2,3]}`))
	resp := make([]byte, 4096)
	roundTrip := func() {
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(resp); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	const n = 2000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 2.5 {
		t.Errorf("%.1f allocations per request, want at most 2", per)
	}
}

// constHandler answers a fixed body, allocating nothing.
type constHandler struct{}

func (constHandler) Route(path []byte) bool { return true }

var okBody = []byte(`{"ok":true}`)

func (constHandler) ServeLean(w *Response, r *Request) {
	w.SetHeader("Sluice-Request-Id", "r1")
	w.Write(200, "application/json", okBody)
}

// BenchmarkLoop is one small request and answer over a kept-alive
// loopback connection, through the loop with a handler that does nothing.
func BenchmarkLoop(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := New(constHandler{}, Options{MaxBodyBytes: 1 << 20})
	go s.Serve(ln)
	defer s.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte(post("/lean/a", "X-A: b\r\n", `{"inputs":[1,2,3]}`))
	resp := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Read(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseHead checks the head parser never panics and that what it
// serves is well formed.
func FuzzParseHead(f *testing.F) {
	f.Add([]byte("POST /lean/a?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("POST /lean/a HTTP/1.0\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("POST /lean/a HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end, bad := headEnd(b)
		if bad || end == 0 {
			return
		}
		p, v := parseHead(b[:end], &routes{})
		if v != serveLean {
			return
		}
		if p.contentLength < 0 || len(p.path) == 0 || p.path[0] != '/' {
			t.Fatalf("served a bad head: %+v", p)
		}
		r := Request{head: p.headers}
		if got := r.Header("Content-Length"); got == "" {
			t.Fatalf("served head has no Content-Length: %q", b[:end])
		}
	})
}

// TestReadBody reads bodies of several sizes through a reader that hands
// out a few bytes at a time, and checks that a body that never arrives
// costs no more than eagerBody of memory.
func TestReadBody(t *testing.T) {
	for _, n := range []int{1, 100, eagerBody - 1, eagerBody, eagerBody + 1, 3*eagerBody + 7} {
		want := bytes.Repeat([]byte("0123456789"), n/10+1)[:n]
		have := want[:min(n, 5)]
		got, err := readBody(iotest.HalfReader(bytes.NewReader(want[len(have):])), nil, have, n)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("n=%d: read %d bytes, err %v", n, len(got), err)
		}
	}
	got, err := readBody(strings.NewReader("abc"), nil, nil, 32<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "abc" {
		t.Fatalf("short body: %q, %v; want abc and io.ErrUnexpectedEOF", got, err)
	}
	if cap(got) > eagerBody {
		t.Errorf("a 32 MiB declared body that sent 3 bytes took %d bytes of memory; want at most %d", cap(got), eagerBody)
	}
}

// nowHandler answers with the Date of the time it passes to SetNow, or,
// for /lean/clock, without SetNow.
type nowHandler struct{ now time.Time }

func (nowHandler) Route(path []byte) bool { return true }

func (h nowHandler) ServeLean(w *Response, r *Request) {
	if r.Path != "/lean/clock" {
		w.SetNow(h.now)
	}
	w.Write(200, "text/plain", nil)
}

func TestDateHeader(t *testing.T) {
	then := time.Date(2001, 2, 3, 4, 5, 6, 0, time.FixedZone("CET", 3600))
	_, addr := startLean(t, nowHandler{now: then}, Options{MaxBodyBytes: 100})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for _, tt := range []struct {
		path string
		want func(string) bool
		what string
	}{
		{"/lean/set", func(d string) bool { return d == "Sat, 03 Feb 2001 03:05:06 GMT" }, "the time given to SetNow, in GMT"},
		{"/lean/clock", func(d string) bool {
			at, err := http.ParseTime(d)
			return err == nil && time.Since(at).Abs() < time.Minute
		}, "the clock's time"},
		{"/lean/set", func(d string) bool { return d == "Sat, 03 Feb 2001 03:05:06 GMT" }, "the time given to SetNow again"},
	} {
		if _, err := io.WriteString(conn, post(tt.path, "", "")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := resp.Header.Get("Date"); !tt.want(d) {
			t.Errorf("%s: Date = %q, want %s", tt.path, d, tt.what)
		}
	}
}
