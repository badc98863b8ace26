package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
)

// mirrorJob is one request copied to a shadow or challenger version.
type mirrorJob struct {
	endpoint string
	rid      string
	backend  *Backend
	role     string
	inputs   []inference.Tensor
	answer   monitor.Prediction
	segment  string
	// trace is the span of the request the copy comes from; invalid when
	// tracing is off.
	trace trace.SpanContext
}

// Mirroring runs shadow and challenger predictions off the request path:
// a bounded queue feeds a fixed set of workers. When the queue is full the
// copy is dropped and counted; the caller never waits.
type Mirroring struct {
	jobs     chan mirrorJob
	timeout  time.Duration
	workers  int
	pipeline int           // most copies in one pipelined batch
	gather   time.Duration // how long a batch's first copy waits for more

	mu    sync.Mutex
	lanes map[*Backend]*lane // guarded by mu; only lanes with pending copies or senders

	dropped   atomic.Uint64
	completed atomic.Uint64
	failed    atomic.Uint64
}

// MirrorOptions size the mirroring queue.
type MirrorOptions struct {
	// Queue is the number of copies waiting at most; 0 means 4096.
	Queue int
	// Workers run copies concurrently; 0 means 64. Copies to external model
	// servers wait on the network, so there are many more workers than
	// cores; in-process models are bounded by the cores anyway.
	Workers int
	// Timeout bounds one mirrored prediction; 0 means 10s.
	Timeout time.Duration
	// Pipeline is the most copies sent at once, pipelined on one
	// connection, to a version on an external model server reached over
	// plain http; 0 means 16, 1 sends each copy on its own.
	Pipeline int
	// Gather is how long the first copy of such a batch waits for others
	// to join it; 0 means 500µs, negative sends it at once. Copies never
	// hold up answers, and their recorded latency is the server's time,
	// so the wait costs nothing but buys fewer writes and wake-ups per
	// copy.
	Gather time.Duration
}

func newMirroring(o MirrorOptions) *Mirroring {
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Pipeline <= 0 {
		o.Pipeline = 16
	}
	if o.Gather == 0 {
		o.Gather = 500 * time.Microsecond
	}
	return &Mirroring{jobs: make(chan mirrorJob, o.Queue), timeout: o.Timeout, workers: o.Workers, pipeline: o.Pipeline,
		gather: max(o.Gather, 0), lanes: map[*Backend]*lane{}}
}

// MirrorStats are the mirroring queue's counters.
type MirrorStats struct {
	Dropped, Completed, Failed uint64
	Queued                     int
}

// MirrorStats returns the mirroring counters.
func (g *Gateway) MirrorStats() MirrorStats {
	m := g.mirrors
	return MirrorStats{Dropped: m.dropped.Load(), Completed: m.completed.Load(), Failed: m.failed.Load(), Queued: len(m.jobs)}
}

// enqueueMirror copies a request to a mirror version without waiting.
func (g *Gateway) enqueueMirror(j mirrorJob) {
	select {
	case g.mirrors.jobs <- j:
	default:
		g.mirrors.dropped.Add(1)
	}
}

// Run runs the mirroring workers until ctx ends. Copies still queued then
// are dropped.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < g.mirrors.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w pipeWorker
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-g.mirrors.jobs:
					if p := g.pipelined(j); p != nil {
						g.joinLane(ctx, p, j, &w)
						continue
					}
					g.runMirror(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (g *Gateway) runMirror(ctx context.Context, j mirrorJob) {
	ctx, cancel := context.WithTimeout(ctx, g.mirrors.timeout)
	defer cancel()
	var span trace.Span
	if g.tracer != nil && j.trace.IsValid() {
		ctx, span = g.tracer.Start(trace.ContextWithSpanContext(ctx, j.trace), SpanShadow, trace.WithAttributes(
			append(backendAttrs(j.backend, j.role), AttrEndpoint.String(j.endpoint), AttrRequestID.String(j.rid))...))
	}
	start := time.Now()
	if !j.backend.Ready() {
		g.mirrorDone(j, nil, nil, 0, errNotLoaded, span)
		return
	}
	inputs, err := adaptInputs(j.inputs, j.backend)
	var outputs []inference.Tensor
	if err == nil {
		outputs, err = j.backend.Runtime.Predict(ctx, inputs)
	}
	g.mirrorDone(j, inputs, outputs, time.Since(start), err, span)
}

// errNotLoaded is the error of a copy to a version that is not loaded.
var errNotLoaded = errors.New("not loaded")

// mirrorDone records a copy's outcome: prediction log, drift window,
// counters, comparison with the answer and the request's record. inputs
// are the adapted inputs, nil when adapting them failed or the version is
// not loaded (err says which); span, if not nil, is ended.
func (g *Gateway) mirrorDone(j mirrorJob, inputs, outputs []inference.Tensor, took time.Duration, err error, span trace.Span) {
	var p monitor.Prediction
	switch {
	case err == errNotLoaded:
		p = monitor.Prediction{Version: j.backend.Version, Role: j.role, Err: err.Error()}
	case err != nil:
		if inputs != nil {
			g.logPrediction(j.rid, j.endpoint, j.backend, j.role, inputs, nil, took, err)
		}
		p = monitor.Prediction{Version: j.backend.Version, Role: j.role, Err: err.Error(), Latency: took}
	default:
		g.logPrediction(j.rid, j.endpoint, j.backend, j.role, inputs, outputs, took, nil)
		p = prediction(j.backend, j.role, outputs, took)
		// The mirrored version's own window: its prediction drift on
		// the traffic it would serve.
		if m, ok := tabularMatrix(inputs, j.backend); ok && g.opts.Drift != nil && j.backend.Baseline != nil {
			g.opts.Drift.Observe(j.endpoint, j.backend.Version, j.backend.Baseline, m, p, time.Now())
		}
	}
	if span != nil {
		if p.Err != "" {
			span.SetStatus(codes.Error, p.Err)
		}
		span.End()
	}
	if p.Err != "" {
		g.mirrors.failed.Add(1)
	} else {
		g.mirrors.completed.Add(1)
	}
	if g.opts.Comparison != nil {
		g.opts.Comparison.Add(j.endpoint, j.answer, p, j.segment)
	}
	if g.opts.Recent != nil {
		g.opts.Recent.AddMirror(j.rid, p)
	}
}
