package gateway

import (
	"context"
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
	jobs    chan mirrorJob
	timeout time.Duration
	workers int

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
	return &Mirroring{jobs: make(chan mirrorJob, o.Queue), timeout: o.Timeout, workers: o.Workers}
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
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-g.mirrors.jobs:
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
	var p monitor.Prediction
	if !j.backend.Ready() {
		p = monitor.Prediction{Version: j.backend.Version, Role: j.role, Err: "not loaded"}
	} else {
		inputs, err := adaptInputs(j.inputs, j.backend)
		var outputs []inference.Tensor
		if err == nil {
			outputs, err = j.backend.Runtime.Predict(ctx, inputs)
			g.logPrediction(j.rid, j.endpoint, j.backend, j.role, inputs, outputs, time.Since(start), err)
		}
		if err != nil {
			p = monitor.Prediction{Version: j.backend.Version, Role: j.role, Err: err.Error(), Latency: time.Since(start)}
		} else {
			p = prediction(j.backend, j.role, outputs, time.Since(start))
			// The mirrored version's own window: its prediction drift on
			// the traffic it would serve.
			if m, ok := tabularMatrix(inputs, j.backend); ok && g.opts.Drift != nil && j.backend.Baseline != nil {
				g.opts.Drift.Observe(j.endpoint, j.backend.Version, j.backend.Baseline, m, p, time.Now())
			}
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
