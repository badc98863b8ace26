package remote

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestContextWatch checks how a call's context cuts it short: the end of
// the context of the call in progress cuts that call (and its connection
// is not reused); contexts that end after their call, one per call or
// one shared by many calls, leave the connection reusable.
func TestContextWatch(t *testing.T) {
	dl := func() deadline { return deadline{t: time.Now().Add(5 * time.Second), now: time.Now()} }
	t.Run("shared context", func(t *testing.T) {
		s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) { return okResponse, false })
		p, req := rawPool(s, `{}`)
		defer p.close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for i := range 50 {
			if _, err := p.roundTrip(ctx, req, dl(), nil); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		c := p.get(time.Now())
		if c == nil {
			t.Fatal("no idle connection after the calls")
		}
		if c.watched != ctx.Done() || c.stopWatch == nil {
			t.Error("the connection does not keep watching the shared context between calls")
		}
		p.put(c, time.Now())
		cancel() // ends the watch of an idle connection: it must stay usable
		time.Sleep(20 * time.Millisecond)
		if _, err := p.roundTrip(context.Background(), req, dl(), nil); err != nil {
			t.Fatalf("call after the shared context ended: %v", err)
		}
		if got := s.conns.Load(); got != 1 {
			t.Errorf("%d connections, want 1", got)
		}
	})
	t.Run("a context per call", func(t *testing.T) {
		s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) { return okResponse, false })
		p, req := rawPool(s, `{}`)
		defer p.close()
		for i := range 50 {
			ctx, cancel := context.WithCancel(context.Background())
			_, err := p.roundTrip(ctx, req, dl(), nil)
			cancel() // as net/http does when its handler returns
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if i%10 == 0 {
				time.Sleep(5 * time.Millisecond) // let the watch run
			}
		}
		if got := s.conns.Load(); got != 1 {
			t.Errorf("%d connections for calls whose contexts ended after them, want 1", got)
		}
	})
	t.Run("cut in progress", func(t *testing.T) {
		release := make(chan struct{})
		s := startRaw(t, func(n int64, _ *http.Request, _ []byte) (string, bool) {
			if n == 1 {
				<-release
			}
			return okResponse, false
		})
		defer close(release)
		p, req := rawPool(s, `{}`)
		defer p.close()
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := p.roundTrip(ctx, req, dl(), nil); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.roundTrip(ctx, req, dl(), nil)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err %v, want the call cut short by its context", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("cut after %v", took)
		}
		if c := p.get(time.Now()); c != nil {
			t.Error("the cut connection went back to the pool")
		}
	})
}

// TestIdleConnectionClosedByServer checks that a call on a kept-alive
// connection the server closed while it was idle is retried on a new
// one, whether the connection rested a moment (the request then goes out
// from within the read of the answer) or longer.
func TestIdleConnectionClosedByServer(t *testing.T) {
	for _, rest := range []time.Duration{0, 2 * quietIdle} {
		t.Run(rest.String(), func(t *testing.T) {
			s := startRaw(t, func(int64, *http.Request, []byte) (string, bool) { return okResponse, true })
			p, req := rawPool(s, `{}`)
			defer p.close()
			now := time.Now()
			for i := range 3 {
				// Each answer closes its connection after it, but says
				// nothing of it: the client keeps the connection and
				// finds out on the next call.
				d := deadline{t: time.Now().Add(5 * time.Second), now: now.Add(rest * time.Duration(i))}
				time.Sleep(20 * time.Millisecond)
				resp, err := p.roundTrip(context.Background(), req, d, nil)
				if err != nil || string(resp.body) != "ok" {
					t.Fatalf("call %d: %q, %v", i, resp.body, err)
				}
			}
			if got := s.conns.Load(); got != 3 {
				t.Errorf("%d connections, want 3", got)
			}
		})
	}
}
