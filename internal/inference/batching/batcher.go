package batching

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// Model is a Model whose concurrent Predict calls are merged. It is safe
// for concurrent use. Close it when done.
type Model struct {
	inner inference.Model
	cfg   Config
	sig   inference.Signature

	// What a mergeable input looks like, from the signature.
	batchable bool   // the model has one input with a variable first dimension
	inName    string // its name; empty accepts any
	inRank    int    // its rank; 0 when unknown (then at least 2)

	unaligned atomic.Bool // outputs were not row-aligned: merge no more

	mu       sync.Mutex
	groups   []*group       // waiting to run, oldest first; guarded by mu
	queued   int            // calls in groups; guarded by mu
	free     int            // runtime slots free; guarded by mu
	closed   bool           // guarded by mu
	inflight sync.WaitGroup // one per slot taken, and per unmerged call
	once     sync.Once
	closeErr error
}

var (
	_ inference.Model     = (*Model)(nil)
	_ inference.Warmer    = (*Model)(nil)
	_ io.Closer           = (*Model)(nil)
	_ inference.Unwrapper = (*Model)(nil)
)

// Unwrap returns the wrapped model, so that its optional capabilities
// (explanations) stay reachable; calls on it bypass the batching.
func (b *Model) Unwrap() inference.Model { return b.inner }

// call is one Predict waiting for its group.
type call struct {
	ctx   context.Context
	in    inference.Tensor
	rows  int
	state atomic.Int32 // waiting, running or cancelled
	res   chan result  // capacity 1, never blocking; nil while the call may run inline
}

const (
	waiting int32 = iota
	running
	cancelled
)

type result struct {
	out []inference.Tensor
	err error
}

// errClosed answers calls made after Close.
var errClosed = fmt.Errorf("batching: the model is closed: %w", inference.ErrBackendUnavailable)

// errQueueFull answers calls beyond Config.MaxQueue.
var errQueueFull = fmt.Errorf("batching: batch queue full: %w", inference.ErrBackendUnavailable)

// Wrap returns m with concurrent Predict calls merged as cfg says.
// Signature and Warm are m's; Close closes m when m is an io.Closer.
// Wrap panics when cfg is invalid (see Config.Validate): check
// configurations from users with ParseParams or Validate first.
//
// There is no batcher goroutine to feed: a call that finds a runtime
// slot free runs its group itself, and the goroutine that finishes a
// group runs the next ready one, so a lone call costs about what the
// unwrapped model does, and merging happens only where calls queue.
func Wrap(m inference.Model, cfg Config) inference.Model {
	if err := cfg.Validate(); err != nil {
		panic("batching: " + err.Error())
	}
	cfg = cfg.withDefaults()
	b := &Model{inner: m, cfg: cfg, sig: m.Signature(), free: cfg.Concurrency}
	b.batchable, b.inName, b.inRank = batchShape(b.sig)
	return b
}

// batchShape reads from the signature whether and how inputs can merge.
func batchShape(sig inference.Signature) (ok bool, name string, rank int) {
	if len(sig.Inputs) != 1 {
		return false, "", 0
	}
	in := sig.Inputs[0]
	switch {
	case len(in.Shape) > 0 && in.Shape[0] != -1:
		return false, "", 0 // the batch size is fixed
	case len(in.Shape) > 0:
		return true, in.Name, len(in.Shape)
	case len(in.Features) > 0:
		return true, in.Name, 2
	}
	return true, in.Name, 0
}

// Signature returns the wrapped model's signature.
func (b *Model) Signature() inference.Signature { return b.sig }

// Warm warms the wrapped model, if it is an inference.Warmer.
func (b *Model) Warm(ctx context.Context) error {
	if w, ok := b.inner.(inference.Warmer); ok {
		return w.Warm(ctx)
	}
	return nil
}

// Predict scores inputs, merged with other calls when it can be (see the
// package documentation).
func (b *Model) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	rows, ok := b.mergeable(inputs)
	if !ok {
		return b.predictAlone(ctx, inputs)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &call{ctx: ctx, in: inputs[0], rows: rows}
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return nil, errClosed
	case b.queued >= b.cfg.MaxQueue:
		b.mu.Unlock()
		return nil, errQueueFull
	}
	g := b.addLocked(c)
	if g.led || b.free == 0 || !(g.full || g.expired || b.cfg.MaxWait == 0) {
		// Someone runs the group, or will when it is ready and a slot
		// frees up.
		c.res = make(chan result, 1)
		b.mu.Unlock()
		return c.wait()
	}
	// c leads its group: it takes a slot, and runs the group or starts it.
	b.leadLocked(g)
	if !g.full {
		// With no wait configured, let the goroutines that are ready to
		// run have their turn first: those bound for this model join the
		// group. When nothing else is runnable this costs nanoseconds;
		// when the CPU is saturated, it is what makes batches form.
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	b.removeLocked(g)
	if len(g.calls) == 1 {
		// Alone: run here, as the unwrapped model would.
		b.mu.Unlock()
		c.state.Store(running)
		out, err := b.inner.Predict(ctx, inputs)
		if next := b.release(); next != nil {
			go b.work(next)
		}
		return out, err
	}
	c.res = make(chan result, 1)
	b.mu.Unlock()
	go b.work(g)
	return c.wait()
}

// wait returns c's result, or ctx.Err() as soon as its context ends.
func (c *call) wait() ([]inference.Tensor, error) {
	select {
	case r := <-c.res:
		return r.out, r.err
	case <-c.ctx.Done():
		// Waiting: its group will skip it. Running: the group goes on
		// without it, and the result is dropped.
		c.state.CompareAndSwap(waiting, cancelled)
		return nil, c.ctx.Err()
	}
}

// predictAlone runs a call that cannot merge, unqueued.
func (b *Model) predictAlone(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed
	}
	b.inflight.Add(1)
	b.mu.Unlock()
	defer b.inflight.Done()
	return b.inner.Predict(ctx, inputs)
}

// mergeable reports whether inputs can join a group, and their rows.
func (b *Model) mergeable(inputs []inference.Tensor) (int, bool) {
	if !b.batchable || len(inputs) != 1 || b.unaligned.Load() {
		return 0, false
	}
	t := &inputs[0]
	switch {
	case b.inName != "" && t.Name != b.inName,
		b.inRank != 0 && len(t.Shape) != b.inRank,
		b.inRank == 0 && len(t.Shape) < 2,
		t.Shape[0] < 1 || t.Shape[0] > int64(b.cfg.MaxBatchRows),
		t.Validate() != nil:
		return 0, false
	}
	return int(t.Shape[0]), true
}

// Close stops taking calls, runs the calls already waiting without
// waiting for MaxWait, waits for every call in progress, and closes the
// wrapped model if it is an io.Closer. Close is idempotent.
func (b *Model) Close() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		var start []*group
		for g := b.takeLocked(); g != nil; g = b.takeLocked() {
			start = append(start, g)
		}
		b.mu.Unlock()
		for _, g := range start {
			go b.work(g)
		}
		// Groups beyond the free slots run as running ones finish.
		b.inflight.Wait()
		if c, ok := b.inner.(io.Closer); ok {
			b.closeErr = c.Close()
		}
	})
	return b.closeErr
}

// group is calls that will run as one.
type group struct {
	calls   []*call
	rows    int
	full    bool        // takes no more calls: run it when a slot is free
	expired bool        // waited MaxWait
	led     bool        // has a slot and a goroutine to run it
	timer   *time.Timer // fires at MaxWait; nil when MaxWait is 0
}

// sameShape reports whether t can be stacked under the group's tensors.
func (g *group) sameShape(t *inference.Tensor) bool {
	first := &g.calls[0].in
	if t.Name != first.Name || t.Datatype != first.Datatype || len(t.Shape) != len(first.Shape) {
		return false
	}
	for i := 1; i < len(t.Shape); i++ {
		if t.Shape[i] != first.Shape[i] {
			return false
		}
	}
	return true
}

// addLocked puts c in the first open group it fits, or a new one, and
// returns the group.
func (b *Model) addLocked(c *call) *group {
	b.queued++
	for _, g := range b.groups {
		if g.full || !g.sameShape(&c.in) {
			continue
		}
		if g.rows+c.rows > b.cfg.MaxBatchRows {
			g.full = true // it cannot take a call like c: run it
			continue
		}
		g.calls = append(g.calls, c)
		g.rows += c.rows
		g.full = g.rows == b.cfg.MaxBatchRows
		return g
	}
	g := &group{calls: []*call{c}, rows: c.rows, full: c.rows == b.cfg.MaxBatchRows}
	if b.cfg.MaxWait > 0 && !g.full {
		g.timer = time.AfterFunc(b.cfg.MaxWait, func() { b.expire(g) })
	}
	b.groups = append(b.groups, g)
	return g
}

// leadLocked assigns a free slot to g: whoever calls it runs g, then
// calls release.
func (b *Model) leadLocked(g *group) {
	g.led = true
	b.free--
	b.inflight.Add(1)
	if g.timer != nil {
		g.timer.Stop()
	}
}

// removeLocked closes g to new calls.
func (b *Model) removeLocked(g *group) {
	for i, x := range b.groups {
		if x == g {
			b.groups = append(b.groups[:i], b.groups[i+1:]...)
			break
		}
	}
	b.queued -= len(g.calls)
}

// takeLocked returns the oldest group that is ready to run and not led,
// removed and with a slot assigned, or nil when no slot is free or
// nothing is ready.
func (b *Model) takeLocked() *group {
	if b.free == 0 {
		return nil
	}
	for _, g := range b.groups {
		if !g.led && (g.full || g.expired || b.cfg.MaxWait == 0 || b.closed) {
			b.leadLocked(g)
			b.removeLocked(g)
			return g
		}
	}
	return nil
}

// release gives back the slot of a group that ran, and takes the next
// ready group, if any, for the caller to run.
func (b *Model) release() *group {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free++
	next := b.takeLocked()
	// Done after takeLocked's Add: Close's Wait must not see zero while
	// a group is still to run.
	b.inflight.Done()
	return next
}

// expire marks a group that waited MaxWait as ready and runs it if a
// slot is free. After Close, running groups take care of the rest.
func (b *Model) expire(g *group) {
	b.mu.Lock()
	g.expired = true
	var next *group
	if !b.closed {
		next = b.takeLocked()
	}
	b.mu.Unlock()
	if next != nil {
		b.work(next)
	}
}

// work runs g, then every group that is ready when it finishes.
func (b *Model) work(g *group) {
	for g != nil {
		b.run(g)
		g = b.release()
	}
}

// run hands a group to the runtime and gives each member its answer.
func (b *Model) run(g *group) {
	live := g.calls[:0]
	for _, c := range g.calls {
		if c.state.CompareAndSwap(waiting, running) {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 || b.unaligned.Load() {
		b.runAlone(live)
		return
	}
	rows := 0
	for _, c := range live {
		rows += c.rows
	}
	ctx, cancel := mergedContext(live)
	out, err := b.inner.Predict(ctx, []inference.Tensor{stack(live, rows)})
	cancel()
	if err == nil {
		if parts, ok := split(out, live, rows); ok {
			for i, c := range live {
				c.res <- result{out: parts[i]}
			}
			return
		}
		b.unaligned.Store(true)
	} else if !isolable(err) {
		for _, c := range live {
			c.res <- result{err: err}
		}
		return
	}
	b.runAlone(live)
}

// runAlone runs each call by itself, under its own context.
func (b *Model) runAlone(calls []*call) {
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.res <- result{err: err}
			continue
		}
		out, err := b.inner.Predict(c.ctx, []inference.Tensor{c.in})
		c.res <- result{out: out, err: err}
	}
}

// isolable reports whether running each member alone may change the
// outcome: not for errors about the runtime rather than an input.
func isolable(err error) bool {
	return !errors.Is(err, inference.ErrTimeout) &&
		!errors.Is(err, inference.ErrBackendUnavailable) &&
		!errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// mergedContext is the context of a merged call: the first member's
// values, no cancellation by any one member, and the latest of the
// members' deadlines if they all have one.
func mergedContext(calls []*call) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx := context.WithoutCancel(calls[0].ctx)
	if latest.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, latest)
}
