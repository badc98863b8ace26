package leanhttp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestNextDeadline(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	const d = 160 * time.Millisecond // d/16 = 10 ms
	want, late := t0.Add(d), t0.Add(d+d/deadlineSlack)
	if late.Sub(want) != 10*time.Millisecond {
		t.Fatalf("test assumes a slack of a sixteenth; deadlineSlack = %d", deadlineSlack)
	}
	var zero time.Time
	tests := []struct {
		name   string
		cur    time.Time
		d      time.Duration
		slack  bool
		want   time.Time
		change bool
	}{
		{"no timeout, none set", zero, 0, false, zero, false},
		{"no timeout, none set, slack", zero, 0, true, zero, false},
		{"no timeout, one set", want, 0, false, zero, true},
		{"no timeout, one set, slack", want, 0, true, zero, true},
		{"negative timeout, one set", want, -time.Second, true, zero, true},

		{"exact, none set", zero, d, false, want, true},
		{"exact, equal", want, d, false, want, false},
		{"exact, equal in another zone", want.In(time.FixedZone("x", 3600)), d, false, want, false},
		{"exact, earlier", want.Add(-time.Nanosecond), d, false, want, true},
		{"exact, later within the slack", want.Add(5 * time.Millisecond), d, false, want, true},
		{"exact, at the end of the slack", late, d, false, want, true},
		{"exact, much later", want.Add(time.Hour), d, false, want, true},

		{"slack, none set", zero, d, true, late, true},
		{"slack, long before", t0, d, true, late, true},
		{"slack, just before", want.Add(-time.Nanosecond), d, true, late, true},
		{"slack, at the start", want, d, true, want, false},
		{"slack, within", want.Add(3 * time.Millisecond), d, true, want.Add(3 * time.Millisecond), false},
		{"slack, at the end", late, d, true, late, false},
		{"slack, just after", late.Add(time.Nanosecond), d, true, late, true},
		{"slack, much later", want.Add(time.Hour), d, true, late, true},
		// A timeout under 16 ns has no slack: only t+d itself is kept.
		{"tiny timeout, equal", t0.Add(10), 10, true, t0.Add(10), false},
		{"tiny timeout, later", t0.Add(11), 10, true, t0.Add(10), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, change := nextDeadline(tt.cur, t0, tt.d, tt.slack)
			if !got.Equal(tt.want) || change != tt.change {
				t.Errorf("nextDeadline(%s, t0, %s, %v) = %s, %v; want %s, %v",
					since(t0, tt.cur), tt.d, tt.slack, since(t0, got), change, since(t0, tt.want), tt.change)
			}
			if !change && !got.Equal(tt.cur) {
				t.Errorf("no change, but a deadline %v other than the current one %v", got, tt.cur)
			}
		})
	}
}

// since prints a deadline relative to t0 in test failures.
func since(t0, t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return "t0+" + t.Sub(t0).String()
}

// countingListener counts the deadline changes of the connections it
// accepts. The type of their conns hides them from netio, which then
// reads them through their own Read.
type countingListener struct {
	net.Listener
	mu        sync.Mutex
	reads     int // SetReadDeadline calls
	writes    int // SetWriteDeadline calls
	deadlines int // SetDeadline calls
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

func (l *countingListener) counts() (reads, writes, deadlines int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads, l.writes, l.deadlines
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) count(n *int) {
	c.l.mu.Lock()
	*n++
	c.l.mu.Unlock()
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.count(&c.l.reads)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.count(&c.l.writes)
	return c.Conn.SetWriteDeadline(t)
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.count(&c.l.deadlines)
	return c.Conn.SetDeadline(t)
}

// busy makes requests back to back on conn for about dur and returns how
// many it made and when the last answer had arrived.
func busy(t *testing.T, conn net.Conn, br *bufio.Reader, dur time.Duration) (int, time.Time) {
	t.Helper()
	req := []byte(post("/lean/a", "", "{}"))
	n := 0
	for start := time.Now(); n == 0 || time.Since(start) < dur; n++ {
		if _, err := conn.Write(req); err != nil {
			t.Fatalf("request %d: %v", n, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d, %s after the first: %v", n, time.Since(start), err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("answer %d: status %d, %v", n, resp.StatusCode, err)
		}
	}
	return n, time.Now()
}

// waitClosed reads from conn until the server closes it and returns when.
func waitClosed(t *testing.T, conn net.Conn, br *bufio.Reader) time.Time {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := br.ReadByte()
		if err == nil {
			t.Fatalf("the server sent %q, want nothing before closing", b)
		}
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			return time.Now()
		}
		t.Fatalf("waiting for the server to close: %v", err)
	}
}

// margin is how late a timeout may fire in these tests, beyond its
// slack: a loaded machine, the race detector.
const margin = 150 * time.Millisecond

// TestIdleTimeoutAfterBusy: on a connection that carried requests back to
// back for longer than the idle timeout, the idle timeout still closes
// it once it goes idle, between IdleTimeout and IdleTimeout*17/16 later
// (plus a margin); and the loop changed the read deadline about once a
// sixteenth of the timeout, not once a request.
func TestIdleTimeoutAfterBusy(t *testing.T) {
	const idle = 240 * time.Millisecond
	for _, tc := range []struct {
		name    string
		opts    Options
		counted bool // through countingListener (not netio's raw path)
	}{
		{"idle", Options{IdleTimeout: idle, ReadHeaderTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}, false},
		{"idle-counted", Options{IdleTimeout: idle, ReadHeaderTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}, true},
		{"read-timeout-as-idle", Options{ReadTimeout: idle}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.MaxBodyBytes = 1 << 20
			var cl *countingListener
			wrap := func(ln net.Listener) net.Listener { return ln }
			if tc.counted {
				wrap = func(ln net.Listener) net.Listener {
					cl = &countingListener{Listener: ln}
					return cl
				}
			}
			_, addr := startLeanOn(t, constHandler{}, tc.opts, wrap)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			start := time.Now()
			n, last := busy(t, conn, br, idle*5/4)
			elapsed := last.Sub(start)
			closed := waitClosed(t, conn, br)
			if got := closed.Sub(last); got < idle-10*time.Millisecond || got > idle*17/16+margin {
				t.Errorf("closed %s after the last answer (%d requests in %s), want between %s and %s (plus %s)",
					got, n, elapsed, idle, idle*17/16, margin)
			}
			if cl == nil {
				return
			}
			// One read deadline for the first request's head, then one
			// each time the idle deadline falls a sixteenth behind; one
			// write deadline each time it does.
			reads, writes, deadlines := cl.counts()
			most := 2 + int(elapsed/(idle/deadlineSlack)) + 1
			if reads > most || writes > most {
				t.Errorf("%d requests in %s changed the read deadline %d times and the write deadline %d times, want at most %d each",
					n, elapsed, reads, writes, most)
			}
			t.Logf("%d requests in %s: %d read and %d write deadline changes", n, elapsed, reads, writes)
			if n < 4*most {
				t.Logf("only %d requests: the count of deadline changes says little", n)
			}
			if deadlines != 0 {
				t.Errorf("%d SetDeadline calls, want none", deadlines)
			}
		})
	}
}

// TestTimeoutsAfterBusy: a request trickled after fast ones on the same
// connection is still cut off by the header (or read) timeout, measured
// from its first byte, and not by the later idle deadline the fast ones
// left.
func TestTimeoutsAfterBusy(t *testing.T) {
	const (
		header = 200 * time.Millisecond
		read   = 300 * time.Millisecond
	)
	opts := Options{ReadHeaderTimeout: header, ReadTimeout: read, IdleTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxBodyBytes: 1 << 20}
	for _, tc := range []struct {
		name    string
		first   string // written at once
		trickle string // then a byte every 20 ms
		timeout time.Duration
	}{
		{"head", "POST /lean/a HTTP/1.1\r\n", "Host: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\nContent-Length: 2\r\n\r\n{}", header},
		{"head, first byte alone", "P", "OST /lean/a HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\nContent-Length: 2\r\n\r\n{}", header},
		{"body", "POST /lean/a HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n{", strings.Repeat("1", 299), read},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startLean(t, constHandler{}, opts)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			busy(t, conn, br, 50*time.Millisecond)
			time.Sleep(header / 4) // the idle deadline from the busy requests stands
			start := time.Now()
			if _, err := io.WriteString(conn, tc.first); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := range len(tc.trickle) {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := io.WriteString(conn, tc.trickle[i:i+1]); err != nil {
						return // closed by the server
					}
				}
			}()
			closed := waitClosed(t, conn, br)
			if got := closed.Sub(start); got < tc.timeout || got > tc.timeout+margin {
				t.Errorf("closed %s after the request's first byte, want between %s and %s", got, tc.timeout, tc.timeout+margin)
			}
		})
	}
}
