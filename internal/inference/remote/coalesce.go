package remote

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
)

// This file gathers calls made at the same moment into one pipelined
// batch (pipeline.go) when the document asks for it ("pipeline": N). A
// call that finds others of the model in flight opens a batch and yields
// the processor once; the calls that reach the model meanwhile join it,
// up to N of them, and the first writes them all on one connection with
// one system call and reads the answers back, mostly from one read. The
// others wait without touching the network, each woken as its answer
// comes in.
//
// The price is head-of-line blocking: a server answers the requests of
// a connection in order, so the calls of a batch are served one after
// the other even by a server that has several workers. That suits model
// servers that answer in microseconds to a millisecond, where the system
// calls and wake-ups saved outweigh the wait; it is off by default.

// maxPipeline bounds the "pipeline" field of a document.
const maxPipeline = 64

// coalescer gathers the calls of one Model.
type coalescer struct {
	max      int           // most calls in one batch
	yield    func(*gather) // lets the calls on their way join g; gosched
	inflight atomic.Int32  // calls between their start and their answer
	mu       sync.Mutex
	open     *gather   // the batch still taking calls, nil when none
	free     sync.Pool // of *gather, reused once every call took its answer
}

// gather is one batch: its calls and their answers.
type gather struct {
	calls []pipeCall
	size  int // bytes of the requests
	res   []gathered
	// wake[k] gets a token when the answer to call k > 0 is in; left
	// counts the calls yet to take their answer, and the last one
	// returns the gather to the pool.
	wake   []chan struct{}
	left   atomic.Int32
	settle func(i int, out []inference.Tensor, err error) // stores an answer in res and wakes its call
}

// gathered is the answer to one call of a batch.
type gathered struct {
	out []inference.Tensor
	err error
}

// get returns an empty gather holding the call encoded in bp.
func (co *coalescer) get(bp *[]byte, rows int) *gather {
	g, _ := co.free.Get().(*gather)
	if g == nil {
		g = &gather{calls: make([]pipeCall, 0, co.max), res: make([]gathered, co.max), wake: make([]chan struct{}, co.max)}
		for k := range g.wake {
			g.wake[k] = make(chan struct{}, 1)
		}
		g.settle = func(i int, out []inference.Tensor, err error) {
			g.res[i] = gathered{out: out, err: err}
			if i > 0 {
				g.wake[i] <- struct{}{}
			}
		}
	}
	g.calls = append(g.calls, pipeCall{bp: bp, rows: rows})
	g.size = len(*bp)
	return g
}

// take returns the answer to call k of g, and g to the pool when every
// call has taken its answer.
func (co *coalescer) take(g *gather, k int) ([]inference.Tensor, error) {
	out, err := g.res[k].out, g.res[k].err
	if g.left.Add(-1) == 0 {
		co.put(g)
	}
	return out, err
}

// put returns g to the pool, holding nothing.
func (co *coalescer) put(g *gather) {
	clear(g.calls)
	clear(g.res)
	g.calls, g.size = g.calls[:0], 0
	co.free.Put(g)
}

// gosched yields the processor: the goroutines ready to run, some on
// their way to the model, run first.
func gosched(*gather) { runtime.Gosched() }

// coalesces reports whether a call with ctx may join a batch: one with
// no deadline of its own (a batch is bounded by the version's timeout)
// and no span to propagate (the requests of a batch share one context).
func coalesces(ctx context.Context) bool {
	if _, ok := ctx.Deadline(); ok {
		return false
	}
	return !oteltrace.SpanContextFromContext(ctx).IsValid()
}

// sendCoalesced makes the call encoded in bp, beginning at start, alone
// or in a batch with calls made at the same moment, and recycles bp.
func (m *Model) sendCoalesced(ctx context.Context, start time.Time, bp *[]byte, rows int) ([]inference.Tensor, error) {
	co := m.co
	defer co.inflight.Add(-1)
	if co.inflight.Add(1) > 1 {
		co.mu.Lock()
		if g := co.open; g != nil && len(g.calls) < co.max && g.size+len(*bp) <= maxPipelineBytes {
			k := len(g.calls)
			g.calls = append(g.calls, pipeCall{i: k, bp: bp, rows: rows})
			g.size += len(*bp)
			co.mu.Unlock()
			<-g.wake[k]
			return co.take(g, k)
		}
		g := co.get(bp, rows)
		co.open = g
		co.mu.Unlock()
		co.yield(g)
		co.mu.Lock()
		if co.open == g {
			co.open = nil
		}
		co.mu.Unlock()
		if len(g.calls) > 1 {
			return m.sendGather(start, g)
		}
		co.put(g)
	}
	out, recycle, err := m.send(ctx, m.pick(nil), *bp, rows, m.deadlineAt(ctx, start))
	if recycle {
		putBuf(bp)
	}
	return out, err
}

// sendGather makes the calls of g, closed to new ones, wakes each of the
// others as its answer comes in, and returns the first call's answer.
// The batch runs to its end, bounded by the version's timeout, on a
// context with neither cancellation nor values: its calls have no
// deadline or span of their own (coalesces), and one caller going away
// must not fail the others.
func (m *Model) sendGather(start time.Time, g *gather) ([]inference.Tensor, error) {
	g.left.Store(int32(len(g.calls)))
	ctx := context.Background()
	m.pipelineCalls(ctx, g.calls, m.deadlineAt(ctx, start), g.settle)
	return m.co.take(g, 0)
}
