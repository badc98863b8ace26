package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// start runs the health checker until Close.
func (m *Model) start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.stop, m.done = cancel, make(chan struct{})
	go m.healthLoop(ctx)
}

// healthLoop polls every replica's readiness each interval.
func (m *Model) healthLoop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.checkAll(ctx)
		}
	}
}

// checkAll polls every replica at once, so one that hangs does not delay
// the others, and reports how many are ready.
func (m *Model) checkAll(ctx context.Context) (ready int, problems []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range m.replicas {
		wg.Go(func() {
			err := m.check(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ready++
			} else {
				problems = append(problems, err.Error())
			}
		})
	}
	wg.Wait()
	return ready, problems
}

// check polls one replica, records the result and logs a change.
func (m *Model) check(ctx context.Context, r *replica) error {
	ctx, cancel := context.WithTimeout(ctx, min(m.timeout, m.interval))
	defer cancel()
	resp, err := m.transport.RoundTrip(r.ready.WithContext(ctx))
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s answered %d", r.ready.URL, resp.StatusCode)
		}
	} else {
		err = fmt.Errorf("%s: %v", r.ready.URL, unwrapURLError(err))
	}
	if ctx.Err() != nil && err != nil && context.Cause(ctx) == context.Canceled {
		return err // shutting down: keep the last known state
	}
	ok := err == nil
	if was := r.healthy.Swap(ok); was != ok {
		if ok {
			m.log.Info("model server replica ready", "url", r.base)
		} else {
			m.log.Warn("model server replica not ready; skipped until it is", "url", r.base, "err", err)
		}
	}
	return err
}

// Warm checks every replica's readiness, opening a connection to each,
// and fails when none is ready.
func (m *Model) Warm(ctx context.Context) error {
	if m.closed.Load() {
		return errClosed
	}
	ready, problems := m.checkAll(ctx)
	if ready == 0 {
		return fmt.Errorf("remote: %w: no replica is ready: %s", inference.ErrBackendUnavailable, strings.Join(problems, "; "))
	}
	return nil
}

// Close stops the health checker and closes idle connections. Calls in
// flight finish; later ones fail with an error wrapping
// inference.ErrBackendUnavailable. Close is idempotent.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		if m.stop != nil {
			m.stop()
			<-m.done
		}
		m.transport.CloseIdleConnections()
		for _, r := range m.replicas {
			if r.pool != nil {
				r.pool.close()
			}
		}
	})
	return nil
}
