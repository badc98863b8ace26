package predlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memSink keeps what it is given. gate, when not nil, holds every Write
// until a value is received from it (or it is closed); failures makes
// that many Writes fail first.
type memSink struct {
	gate chan struct{}

	mu       sync.Mutex
	batches  [][]Record // guarded by mu
	failures int        // guarded by mu
	writes   int        // guarded by mu
	closed   bool       // guarded by mu
}

var errTestSink = errors.New("test sink failure")

func (m *memSink) Write(ctx context.Context, batch []Record) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.closed {
		return ErrClosed
	}
	if m.failures > 0 {
		m.failures--
		return errTestSink
	}
	m.batches = append(m.batches, append([]Record(nil), batch...))
	return nil
}

func (m *memSink) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memSink) records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, b := range m.batches {
		out = append(out, b...)
	}
	return out
}

// start runs l until the test ends.
func start(t *testing.T, l *Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "Run to start", l.running.Load)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustNew(t *testing.T, opts Options, sinks ...SinkOptions) *Logger {
	t.Helper()
	l, err := New(opts, sinks...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
