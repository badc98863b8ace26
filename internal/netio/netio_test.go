package netio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A pair makes two connected ends of one kind of connection.
type pair struct {
	name string
	make func(t *testing.T) (a, b net.Conn)
	raw  bool // New takes the raw path for it (on Linux)
	sock bool // a socket of the net package: errors are *net.OpError
}

var (
	tcp  = pair{"tcp", tcpPair, true, true}
	unix = pair{"unix", unixPair, true, true}
	pipe = pair{"pipe", func(t *testing.T) (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		guard(t, a, b)
		return a, b
	}, false, false}
	// wrapped is a TCP connection behind another type, as a TLS
	// connection would be: its SyscallConn is not the stream it reads.
	wrapped = pair{"wrapped-tcp", func(t *testing.T) (net.Conn, net.Conn) {
		a, b := tcpPair(t)
		return wrapper{a}, b
	}, false, true}
	sockets = []pair{tcp, unix}
	all     = []pair{tcp, unix, pipe, wrapped}
)

// wrapper hides a connection's type.
type wrapper struct{ net.Conn }

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return listenPair(t, "tcp", "127.0.0.1:0")
}

// unixPair returns the two ends of a unix stream socket.
func unixPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "netio")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return listenPair(t, "unix", filepath.Join(dir, "s"))
}

func listenPair(t *testing.T, network, addr string) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	a, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		a.Close()
		t.FailNow()
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	guard(t, a, b)
	return a, b
}

// guard gives a test that would wait forever a deadline (tests of
// deadlines set their own).
func guard(t *testing.T, conns ...net.Conn) {
	t.Helper()
	for _, c := range conns {
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

// smallBuffers shrinks the kernel's buffers of a socket pair, so that a
// write of a few hundred KB fills them.
func smallBuffers(t *testing.T, a, b net.Conn) {
	t.Helper()
	type buffers interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}
	for _, c := range []net.Conn{a, b} {
		if w, ok := c.(wrapper); ok {
			c = w.Conn
		}
		if s, ok := c.(buffers); ok {
			if err := s.SetReadBuffer(16 << 10); err != nil {
				t.Fatal(err)
			}
			if err := s.SetWriteBuffer(16 << 10); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pattern returns n bytes that differ from their neighbours, so that a
// byte lost, repeated or reordered shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// wrappers are the two ways to read a net.Conn whose behaviours must
// match: the net package's own, and New's.
var wrappers = []struct {
	name string
	wrap func(net.Conn) net.Conn
}{
	{"net", func(c net.Conn) net.Conn { return c }},
	{"netio", func(c net.Conn) net.Conn { return New(c) }},
}

// checkOpError checks that err is what a net.Conn of the net package
// returns: a *net.OpError for op, naming c's addresses, wrapping target.
func checkOpError(t *testing.T, err error, op string, c net.Conn, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want one that is %v", err, target)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v (%T), want a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != c.LocalAddr().Network() || oe.Source != c.LocalAddr() || oe.Addr != c.RemoteAddr() {
		t.Errorf("OpError{Op: %q, Net: %q, Source: %v, Addr: %v}, want {%q, %q, %v, %v}",
			oe.Op, oe.Net, oe.Source, oe.Addr, op, c.LocalAddr().Network(), c.LocalAddr(), c.RemoteAddr())
	}
	if _, ok := oe.Err.(*net.OpError); ok {
		t.Errorf("err = %v: an OpError inside an OpError", err)
	}
}

func TestRawPath(t *testing.T) {
	for _, p := range all {
		t.Run(p.name, func(t *testing.T) {
			a, _ := p.make(t)
			want := p.raw && runtime.GOOS == "linux"
			if got := New(a).raw != nil; got != want {
				t.Errorf("raw path %v, want %v", got, want)
			}
		})
	}
}

// TestRoundTrip sends messages of many sizes both ways on one pair and
// checks they arrive intact and in order.
func TestRoundTrip(t *testing.T) {
	sizes := []int{1, 2, 100, 1500, 4096, 65 << 10, 300 << 10}
	for _, p := range all {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			ca, cb := New(a), New(b)
			for _, dir := range []struct {
				name string
				w, r *Conn
			}{{"a-to-b", ca, cb}, {"b-to-a", cb, ca}} {
				for _, n := range sizes {
					want := pattern(n)
					done := make(chan error, 1)
					go func() {
						m, err := dir.w.Write(want)
						if err == nil && m != n {
							err = io.ErrShortWrite
						}
						done <- err
					}()
					got := make([]byte, n)
					if _, err := io.ReadFull(dir.r, got); err != nil {
						t.Fatalf("%s, %d bytes: read: %v", dir.name, n, err)
					}
					if err := <-done; err != nil {
						t.Fatalf("%s, %d bytes: write: %v", dir.name, n, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, %d bytes: the bytes read differ from those written", dir.name, n)
					}
				}
			}
		})
	}
}

// TestLargeWrite writes several MB at once to a peer that does not read
// at first and then reads in small pieces: the write fills the kernel's
// buffers, waits for room, and finishes in many partial writes.
func TestLargeWrite(t *testing.T) {
	const (
		size  = 4 << 20
		pause = 100 * time.Millisecond // before the peer reads
	)
	for _, p := range sockets {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			smallBuffers(t, a, b)
			w, r := New(a), New(b)
			want := pattern(size)
			got := make([]byte, 0, size)
			read := make(chan error, 1)
			go func() {
				time.Sleep(pause)
				small, big := make([]byte, 1000), make([]byte, 64<<10)
				for len(got) < size {
					buf := big
					if len(got) < 200<<10 {
						buf = small // slowly at first
						time.Sleep(100 * time.Microsecond)
					}
					n, err := r.Read(buf[:min(len(buf), size-len(got))])
					got = append(got, buf[:n]...)
					if err != nil {
						read <- err
						return
					}
				}
				read <- nil
			}()
			start := time.Now()
			n, err := w.Write(want)
			took := time.Since(start)
			if err != nil || n != size {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, size)
			}
			if err := <-read; err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the bytes read differ from those written")
			}
			if took < pause {
				t.Errorf("Write returned after %s, before the peer read anything (%s): the test did not fill the buffers", took, pause)
			}
		})
	}
}

// TestEOFAndEmpty: Read returns io.EOF itself after the peer closes, and
// empty reads and writes do nothing, as with the net package's Conn.
func TestEOFAndEmpty(t *testing.T) {
	for _, p := range append(sockets, wrapped) {
		for _, w := range wrappers {
			t.Run(p.name+"/"+w.name, func(t *testing.T) {
				a, b := p.make(t)
				c := w.wrap(a)
				for _, tc := range []struct {
					name string
					op   func([]byte) (int, error)
					p    []byte
				}{
					{"read nil", c.Read, nil},
					{"read empty", c.Read, []byte{}},
					{"write nil", c.Write, nil},
					{"write empty", c.Write, make([]byte, 0, 10)},
				} {
					if n, err := tc.op(tc.p); n != 0 || err != nil {
						t.Errorf("%s = %d, %v; want 0, nil", tc.name, n, err)
					}
				}
				if _, err := b.Write([]byte("hi")); err != nil {
					t.Fatal(err)
				}
				b.Close()
				got, err := io.ReadAll(c) // io.ReadAll stops at io.EOF only
				if err != nil || string(got) != "hi" {
					t.Fatalf("ReadAll = %q, %v; want \"hi\", nil", got, err)
				}
				for i := range 2 {
					if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
						t.Errorf("read %d after EOF = %d, %v; want 0, io.EOF", i, n, err)
					}
				}
				if n, err := c.Read(nil); n != 0 || err != nil {
					t.Errorf("empty read after EOF = %d, %v; want 0, nil", n, err)
				}
			})
		}
	}
}

// fill writes to c, whose peer does not read, until the kernel's buffers
// are full: a write of one more byte would wait.
func fill(t *testing.T, c net.Conn) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for {
		if err := c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("filling the buffers: %v", err)
			}
			break
		}
	}
	if err := c.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestDeadlines: a read or write deadline that passes, or has passed,
// fails the call with the net package's timeout error, and the
// connection works on once the deadline is moved.
func TestDeadlines(t *testing.T) {
	const short = 80 * time.Millisecond
	for _, p := range append(sockets, wrapped) {
		for _, w := range wrappers {
			for _, tc := range []struct {
				name  string
				write bool
				in    time.Duration // the deadline from now; negative: past
			}{
				{"read-past", false, -time.Second},
				{"read-short", false, short},
				{"write-past", true, -time.Second},
				{"write-short", true, short},
			} {
				t.Run(p.name+"/"+w.name+"/"+tc.name, func(t *testing.T) {
					t.Parallel() // a reader catching up after a full window waits 200 ms for TCP's persist timer
					a, b := p.make(t)
					c := w.wrap(a)
					if tc.write {
						smallBuffers(t, a, b)
						testWriteDeadline(t, c, b, tc.in, p.sock)
					} else {
						testReadDeadline(t, c, b, tc.in, p.sock)
					}
				})
			}
		}
	}
}

func checkTimeout(t *testing.T, err error, op string, c net.Conn, sock bool) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a net.Error whose Timeout() is true", err)
	}
	if sock {
		checkOpError(t, err, op, c, os.ErrDeadlineExceeded)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want os.ErrDeadlineExceeded", err)
	}
}

func testReadDeadline(t *testing.T, c, peer net.Conn, in time.Duration, sock bool) {
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(in)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(make([]byte, 10))
	took := time.Since(start)
	if n != 0 {
		t.Errorf("Read = %d bytes, want 0", n)
	}
	checkTimeout(t, err, "read", c, sock)
	if in > 0 && took < in {
		t.Errorf("Read failed after %s, before its deadline (%s)", took, in)
	}
	if took > max(in, 0)+time.Second {
		t.Errorf("Read failed after %s, deadline %s", took, in)
	}
	// The deadline stays until moved; then the connection works on.
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("second Read past the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	go peer.Write([]byte("late"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "late" {
		t.Errorf("Read after moving the deadline = %q, %v; want \"late\"", got, err)
	}
}

// testWriteDeadline needs c's and peer's buffers small.
func testWriteDeadline(t *testing.T, c, peer net.Conn, in time.Duration, sock bool) {
	want := pattern(512 << 10) // much more than the buffers hold
	start := time.Now()
	if err := c.SetWriteDeadline(start.Add(in)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Write(want)
	took := time.Since(start)
	checkTimeout(t, err, "write", c, sock)
	if in < 0 && n != 0 {
		t.Errorf("Write past its deadline wrote %d bytes, want 0", n)
	}
	if n >= len(want) || n < 0 {
		t.Fatalf("Write = %d bytes of %d with a peer that does not read", n, len(want))
	}
	if in > 0 && took < in {
		t.Errorf("Write failed after %s, before its deadline (%s)", took, in)
	}
	if took > max(in, 0)+time.Second {
		t.Errorf("Write failed after %s, deadline %s", took, in)
	}
	// n is exactly what went out: the rest, written once the deadline
	// is moved on, follows it without a gap or a repeat.
	if err := c.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(want[n:])
		done <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("reading what was written: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Write after moving the deadline: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("after a write cut short at %d bytes, the bytes read differ from those written", n)
	}
}

// TestCloseUnblocks: closing the connection from another goroutine ends a
// Read or Write waiting in it with net.ErrClosed, and later calls fail
// the same way.
func TestCloseUnblocks(t *testing.T) {
	for _, p := range sockets {
		for _, w := range wrappers {
			for _, write := range []bool{false, true} {
				op := map[bool]string{false: "read", true: "write"}[write]
				t.Run(p.name+"/"+w.name+"/"+op, func(t *testing.T) {
					a, b := p.make(t)
					c := w.wrap(a)
					call := func() error {
						_, err := c.Read(make([]byte, 10))
						return err
					}
					if write {
						smallBuffers(t, a, b)
						fill(t, a)
						call = func() error {
							_, err := c.Write(make([]byte, 1<<20))
							return err
						}
					}
					done := make(chan error, 1)
					go func() { done <- call() }()
					select {
					case err := <-done:
						t.Fatalf("%s returned %v before Close", op, err)
					case <-time.After(50 * time.Millisecond):
					}
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
					select {
					case err := <-done:
						checkOpError(t, err, op, a, net.ErrClosed)
					case <-time.After(2 * time.Second):
						t.Fatalf("%s still blocked 2s after Close", op)
					}
					checkOpError(t, call(), op, a, net.ErrClosed)
				})
			}
		}
	}
}

// TestReset: a connection the peer reset fails reads and writes with the
// net package's errors for ECONNRESET.
func TestReset(t *testing.T) {
	for _, w := range wrappers {
		for _, tc := range []struct {
			name    string
			blocked bool // the call waits when the reset comes
			write   bool
			want    []error // one of them
		}{
			{"read-waiting", true, false, []error{syscall.ECONNRESET}},
			{"read-after", false, false, []error{syscall.ECONNRESET}},
			{"write-after", false, true, []error{syscall.ECONNRESET, syscall.EPIPE}},
		} {
			t.Run(w.name+"/"+tc.name, func(t *testing.T) {
				a, b := tcpPair(t)
				c := w.wrap(a)
				call := func() error {
					_, err := c.Read(make([]byte, 10))
					return err
				}
				op := "read"
				if tc.write {
					op = "write"
					call = func() error {
						// The first write after a reset may succeed (the
						// kernel learns of it); a later one fails.
						for range 10 {
							if _, err := c.Write([]byte("x")); err != nil {
								return err
							}
							time.Sleep(5 * time.Millisecond)
						}
						return nil
					}
				}
				done := make(chan error, 1)
				if tc.blocked {
					go func() { done <- call() }()
					time.Sleep(30 * time.Millisecond)
				}
				if err := b.(*net.TCPConn).SetLinger(0); err != nil {
					t.Fatal(err)
				}
				b.Close()
				if !tc.blocked {
					time.Sleep(10 * time.Millisecond)
					go func() { done <- call() }()
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(2 * time.Second):
					t.Fatalf("%s did not return 2s after the reset", op)
				}
				var target error
				for _, e := range tc.want {
					if errors.Is(err, e) {
						target = e
					}
				}
				if target == nil {
					t.Fatalf("err = %v, want one of %v", err, tc.want)
				}
				checkOpError(t, err, op, a, target)
				var se *os.SyscallError
				if !errors.As(err, &se) || se.Syscall != op {
					t.Errorf("err = %v, want an *os.SyscallError of %q inside", err, op)
				}
			})
		}
	}
}

// TestConcurrentReadWrite reads and writes one Conn from two goroutines
// at once, against a peer that echoes.
func TestConcurrentReadWrite(t *testing.T) {
	const size = 2 << 20
	for _, p := range sockets {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			go io.Copy(b, b)
			c := New(a)
			want := pattern(size)
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				for off, k := 0, 1; off < size; k++ {
					n := min(size-off, k*997%(70<<10)+1)
					if _, err := c.Write(want[off : off+n]); err != nil {
						werr = err
						return
					}
					off += n
				}
			})
			got := make([]byte, 0, size)
			var rerr error
			wg.Go(func() {
				buf := make([]byte, 50<<10)
				for k := 1; len(got) < size; k++ {
					n, err := c.Read(buf[:k*331%len(buf)+1])
					got = append(got, buf[:n]...)
					if err != nil {
						rerr = err
						return
					}
				}
			})
			wg.Wait()
			if werr != nil || rerr != nil {
				t.Fatalf("write: %v; read: %v", werr, rerr)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the bytes echoed differ from those written")
			}
		})
	}
}

// TestHappensBefore: what a goroutine did before writing to a connection
// happened before what the goroutine that reads it does after, for the
// race detector too (as for the net package's reads and writes), whether
// either end is a Conn or the net package's.
func TestHappensBefore(t *testing.T) {
	for _, tc := range []struct{ name, w, r string }{
		{"netio-to-netio", "netio", "netio"},
		{"netio-to-net", "netio", "net"},
		{"net-to-netio", "net", "netio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			wrap := map[string]func(net.Conn) net.Conn{"net": wrappers[0].wrap, "netio": wrappers[1].wrap}
			w, r := wrap[tc.w](a), wrap[tc.r](b)
			shared := make([]int, 1) // guarded by the connection only
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 1)
				for i := 1; i <= 100; i++ {
					if _, err := io.ReadFull(r, buf); err != nil {
						t.Error(err)
						return
					}
					if shared[0] != i {
						t.Errorf("after message %d, shared = %d", i, shared[0])
					}
					shared[0] = -i // the reader's turn; the next write waits for the reply
					if _, err := r.Write(buf); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			buf := make([]byte, 1)
			for i := 1; i <= 100; i++ {
				shared[0] = i
				if _, err := w.Write(buf); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(w, buf); err != nil {
					t.Fatal(err)
				}
				if shared[0] != -i {
					t.Fatalf("after reply %d, shared = %d", i, shared[0])
				}
			}
			<-done
		})
	}
}

// TestNoAllocs: in steady state a Write and a Read on a socket allocate
// nothing.
func TestNoAllocs(t *testing.T) {
	for _, p := range sockets {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			w, r := New(a), New(b)
			msg, buf := pattern(100), make([]byte, 100)
			var err error
			roundTrip := func() {
				var n, m int
				if n, err = w.Write(msg); err != nil || n != len(msg) {
					return
				}
				for m < n && err == nil {
					var k int
					k, err = r.Read(buf[m:])
					m += k
				}
			}
			for range 10 {
				roundTrip()
			}
			allocs := testing.AllocsPerRun(500, roundTrip)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, msg) {
				t.Fatal("the bytes read differ from those written")
			}
			if allocs != 0 {
				t.Errorf("%.1f allocations per Write and Read, want 0", allocs)
			}
		})
	}
}
