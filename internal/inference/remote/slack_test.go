package remote

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn // nil: only SetDeadline is called
	mu       sync.Mutex
	set      []time.Time
	err      error // returned by SetDeadline
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set = append(c.set, t)
	return c.err
}

func (c *deadlineConn) calls() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.set...)
}

func TestArm(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	const slack = 25 * time.Millisecond // a sixteenth of 400 ms
	version := deadline{t: t0, slack: slack}
	caller := deadline{t: t0, caller: true}
	var zero time.Time
	failed := errors.New("set deadline failed")
	tests := []struct {
		name   string
		cur    time.Time // c.dl before the call
		dl     deadline
		setErr error
		want   time.Time // c.dl after
		set    bool      // whether SetDeadline was called (with want)
	}{
		{"version, none set", zero, version, nil, t0.Add(slack), true},
		{"version, long before", t0.Add(-time.Second), version, nil, t0.Add(slack), true},
		{"version, just before", t0.Add(-time.Nanosecond), version, nil, t0.Add(slack), true},
		{"version, at t", t0, version, nil, t0, false},
		{"version, within the slack", t0.Add(10 * time.Millisecond), version, nil, t0.Add(10 * time.Millisecond), false},
		{"version, at the end of the slack", t0.Add(slack), version, nil, t0.Add(slack), false},
		{"version, just after the slack", t0.Add(slack + time.Nanosecond), version, nil, t0.Add(slack), true},
		{"version, much later", t0.Add(time.Hour), version, nil, t0.Add(slack), true},
		{"caller, none set", zero, caller, nil, t0, true},
		{"caller, equal", t0, caller, nil, t0, false},
		{"caller, earlier", t0.Add(-time.Nanosecond), caller, nil, t0, true},
		{"caller, later (a version deadline left by fast calls)", t0.Add(time.Millisecond), caller, nil, t0, true},
		{"SetDeadline fails", zero, version, failed, zero, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := &deadlineConn{err: tt.setErr}
			c := &httpConn{nc: nc, dl: tt.cur}
			err := c.arm(context.Background(), tt.dl)
			if !errors.Is(err, tt.setErr) {
				t.Fatalf("arm = %v, want %v", err, tt.setErr)
			}
			if c.stopWatch != nil {
				t.Error("arm watches a context that never ends")
			}
			if !c.dl.Equal(tt.want) {
				t.Errorf("c.dl = t0+%v, want t0+%v", c.dl.Sub(t0), tt.want.Sub(t0))
			}
			set := nc.calls()
			switch {
			case !tt.set && len(set) != 0:
				t.Errorf("SetDeadline(t0+%v) called, want the deadline kept", set[0].Sub(t0))
			case tt.set && tt.setErr == nil && (len(set) != 1 || !set[0].Equal(tt.want)):
				t.Errorf("SetDeadline calls %v, want one with t0+%v", set, tt.want.Sub(t0))
			}
		})
	}
}

// TestArmContext: the end of the caller's context moves the deadline to
// the past even when arm kept the connection's deadline, and the
// connection is not kept after that.
func TestArmContext(t *testing.T) {
	t0 := time.Now().Add(time.Minute)
	nc := &deadlineConn{}
	c := &httpConn{nc: nc, dl: t0}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.arm(ctx, deadline{t: t0, slack: time.Second}); err != nil || c.stopWatch == nil {
		t.Fatalf("arm = %v, watching %v; want the context watched", err, c.stopWatch != nil)
	}
	if got := nc.calls(); len(got) != 0 {
		t.Fatalf("SetDeadline calls %v, want the deadline kept", got)
	}
	cancel()
	waitFor(t, 5*time.Second, "the cancelled context did not move the deadline", func() bool {
		got := nc.calls()
		return len(got) == 1 && got[0].Equal(aLongTimeAgo)
	})
	c.br = bufio.NewReader(strings.NewReader(""))
	if keep, _ := c.disarm(true, nil, nil); keep {
		t.Error("disarm keeps a connection whose call was cut short")
	}
}

func TestModelDeadline(t *testing.T) {
	const timeout = 400 * time.Millisecond
	m := &Model{timeout: timeout}
	for _, tc := range []struct {
		name       string
		in         time.Duration // the caller's deadline from now; 0: none
		caller     bool
		wantSlack  time.Duration
		wantWithin time.Duration // of now
	}{
		{"no caller deadline", 0, false, timeout / 16, timeout},
		{"a later caller deadline", time.Hour, false, timeout / 16, timeout},
		{"an earlier caller deadline", 100 * time.Millisecond, true, 0, 100 * time.Millisecond},
		{"a past caller deadline", -time.Second, true, 0, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.in != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.in)
				defer cancel()
			}
			now := time.Now()
			dl := m.deadline(ctx)
			if dl.caller != tc.caller || dl.slack != tc.wantSlack {
				t.Errorf("deadline = {caller: %v, slack: %s}, want {%v, %s}", dl.caller, dl.slack, tc.caller, tc.wantSlack)
			}
			if got := dl.t.Sub(now); got < tc.wantWithin-50*time.Millisecond || got > tc.wantWithin+50*time.Millisecond {
				t.Errorf("deadline %s from now, want about %s", got, tc.wantWithin)
			}
		})
	}
}

// stallServer is a model server whose inference calls answer at once, or
// stall until released while stall is set. It records, for each
// inference call, its index on its connection.
type stallServer struct {
	*rawServer
	mu      sync.Mutex
	stall   bool
	release chan struct{}
	onConn  []int // guarded by mu
}

func startStall(t *testing.T) *stallServer {
	t.Helper()
	s := &stallServer{release: make(chan struct{})}
	s.rawServer = startRaw(t, func(_ int64, r *http.Request, _ []byte) (string, bool) {
		if r.Method != http.MethodPost {
			return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false // readiness
		}
		k, _ := strconv.Atoi(r.Header.Get(rawConnRequest))
		s.mu.Lock()
		s.onConn = append(s.onConn, k)
		stall := s.stall
		s.mu.Unlock()
		if stall {
			select {
			case <-s.release:
			case <-time.After(5 * time.Second):
			}
			return "", true
		}
		const body = `{"model_name":"m","outputs":[{"name":"sum","datatype":"FP64","shape":[1],"data":[10]}]}`
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, false
	})
	t.Cleanup(func() { close(s.release) }) // runs before startRaw's
	return s
}

func (s *stallServer) setStall(on bool) {
	s.mu.Lock()
	s.stall = on
	s.mu.Unlock()
}

// last returns the index on its connection of the last inference call.
func (s *stallServer) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.onConn) == 0 {
		return -1
	}
	return s.onConn[len(s.onConn)-1]
}

// TestTimeoutAfterFastCalls: after fast calls on one kept-alive
// connection, which keep its deadline within the slack, a call whose
// server stalls still fails with ErrTimeout no sooner than the version
// timeout and no later than its slack after (plus a margin); a caller's
// shorter deadline is honoured at once. The connection is then closed,
// and the next call succeeds on a new one.
func TestTimeoutAfterFastCalls(t *testing.T) {
	const (
		timeout = 400 * time.Millisecond
		margin  = 150 * time.Millisecond
	)
	in := []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}
	for _, tc := range []struct {
		name     string
		pause    time.Duration // between the fast calls and the stalled one
		caller   time.Duration // the caller's deadline; 0: none
		want     error
		min, max time.Duration
	}{
		{"version-timeout", 0, 0, inference.ErrTimeout, timeout, timeout*17/16 + margin},
		// The fast calls' deadline is kept, and fires later than the
		// stalled call's own but within its slack (25 ms).
		{"version-timeout-pause-within-slack", 10 * time.Millisecond, 0, inference.ErrTimeout, timeout, timeout*17/16 + margin},
		// The fast calls' deadline would fire before the stalled call's
		// own: it is not kept.
		{"version-timeout-pause-beyond-slack", 40 * time.Millisecond, 0, inference.ErrTimeout, timeout, timeout*17/16 + margin},
		{"caller-deadline", 0, 100 * time.Millisecond, context.DeadlineExceeded, 100 * time.Millisecond, 100*time.Millisecond + margin},
		{"caller-deadline-near-the-timeout", 0, timeout - 5*time.Millisecond, context.DeadlineExceeded, timeout - 5*time.Millisecond, timeout - 5*time.Millisecond + margin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStall(t)
			m := load(t, Document{URLs: []string{"http://" + s.ln.Addr().String() + "/v2/models/m"}, Timeout: timeout, Signature: testSignature()}, inference.LoadOptions{})
			for i := range 5 {
				out, err := m.Predict(context.Background(), in)
				if err != nil || len(out) != 1 || len(out[0].F64) != 1 || out[0].F64[0] != 10 {
					t.Fatalf("fast call %d: %v, %v", i, out, err)
				}
				if got := s.last(); got != i {
					t.Fatalf("fast call %d was call %d on its connection, want %d (one kept-alive connection)", i, got, i)
				}
			}
			s.setStall(true)
			time.Sleep(tc.pause)
			ctx := context.Background()
			if tc.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.caller)
				defer cancel()
			}
			start := time.Now()
			_, err := m.Predict(ctx, in)
			took := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("stalled call = %v, want %v", err, tc.want)
			}
			if tc.want == context.DeadlineExceeded && errors.Is(err, inference.ErrTimeout) {
				t.Errorf("stalled call = %v: the version's timeout, not the caller's deadline", err)
			}
			if got := s.last(); got != 5 {
				t.Errorf("the stalled call was call %d on its connection, want 5", got)
			}
			if took < tc.min || took > tc.max {
				t.Errorf("stalled call failed after %s, want between %s and %s", took, tc.min, tc.max)
			}
			t.Logf("stalled call failed after %s", took)
			s.setStall(false)
			for i := range 2 {
				if _, err := m.Predict(context.Background(), in); err != nil {
					t.Fatalf("call %d after the stalled one: %v", i, err)
				}
				if got := s.last(); got != i {
					t.Errorf("call %d after the stalled one was call %d on its connection, want %d (a new connection)", i, got, i)
				}
			}
		})
	}
}
