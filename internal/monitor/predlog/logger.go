package predlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Sink writes batches of records somewhere. The Logger calls Write from
// one goroutine per sink, never concurrently, and Close once, after the
// last Write. Write must not keep or modify the batch after it returns:
// the Logger reuses the slice, and the records' backing arrays are shared
// with the other sinks.
type Sink interface {
	// Write stores a batch. An error means the whole batch failed; the
	// Logger counts its records as failed (or, for a required sink, tries
	// again). Write should give up when ctx is done.
	Write(ctx context.Context, batch []Record) error
	// Close flushes and releases the sink.
	Close() error
}

// Maintainer is implemented by sinks that have work to do while no
// records arrive, such as the FileSink's age-based rotation and
// retention. The Logger calls Maintain every MaintainInterval.
type Maintainer interface {
	Maintain(ctx context.Context) error
}

// MaintainInterval is how often the Logger calls a Maintainer's Maintain.
const MaintainInterval = time.Minute

// Defaults of SinkOptions and Options.
const (
	DefaultQueueSize     = 4096
	DefaultBatchSize     = 256
	DefaultFlushInterval = time.Second
	DefaultDrainTimeout  = 10 * time.Second
)

// ErrClosed is returned by sinks written after Close.
var ErrClosed = errors.New("predlog: closed")

// SinkOptions attaches a sink to a Logger, with its own sampling and queue.
type SinkOptions struct {
	// Name labels the sink's counters; unique within a Logger.
	Name string
	// Sink receives the batches; required.
	Sink Sink
	// Sample is the share of requests logged to this sink, in (0, 1]. 0
	// means 1: every request. The choice is a hash of the request id (see
	// Options.Seed), the same for every sink.
	Sample float64
	// Required makes Log wait for room in this sink's queue instead of
	// dropping, and retries failed writes until shutdown, so records are
	// lost only when the drain timeout runs out. A slow sink then slows
	// requests down: see docs/prediction-log.md.
	Required bool
	// QueueSize bounds the records waiting for this sink. 0 means
	// DefaultQueueSize.
	QueueSize int
	// BatchSize is the most records per Write; a full batch is written at
	// once. 0 means DefaultBatchSize.
	BatchSize int
	// FlushInterval bounds how long a record waits for its batch to fill.
	// 0 means DefaultFlushInterval.
	FlushInterval time.Duration
}

// Options configures a Logger.
type Options struct {
	// Redact names the input features whose values are replaced before a
	// record is queued, for every sink. Names match exactly.
	Redact []string
	// RedactKey, when not empty, replaces each redacted element with the
	// first 24 hex digits of its HMAC-SHA256 under this key, so equal
	// values can still be joined; otherwise each element becomes
	// Redacted. Keep the key secret: a value with few possibilities (a
	// social security number) can be found from its hash by anyone who
	// has the key.
	RedactKey []byte
	// DrainTimeout bounds how long shutdown waits for queued records to
	// be written. 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Seed is mixed into the sampling hash. Nodes that share it sample the
	// same requests.
	Seed uint64
	// Log receives the Logger's own problems (failing sinks); nil
	// discards them.
	Log *slog.Logger
	// Now returns the time for records without one; nil means time.Now.
	Now func() time.Time
}

// Logger queues records for its sinks and writes them in the background.
// Log is safe for concurrent use. Run writes until its context ends or
// Close is called; a nil *Logger logs nothing.
type Logger struct {
	queues  []*queue
	redact  *redactor
	seed    uint64
	drain   time.Duration
	log     *slog.Logger
	now     func() time.Time
	sampled bool // some sink samples

	active atomic.Int64  // Log calls in progress
	closed atomic.Bool   // set when shutdown begins; Log then drops
	seq    atomic.Uint64 // sampling of records without a request id

	running  atomic.Bool   // Run has started (or Close ran it)
	stopOnce sync.Once     // closes stop
	stop     chan struct{} // closed by Close
	abort    chan struct{} // closed when the drain timeout runs out
	done     chan struct{} // closed when shutdown has finished
	closeErr error         // set before done is closed
}

// queue is one sink with its queue and counters.
type queue struct {
	SinkOptions
	bound uint64 // sampling: keep records whose hash is below bound
	all   bool   // keep every record
	ch    chan Record

	written, dropped, failed, skipped atomic.Uint64
	writeErrors, waits                atomic.Uint64
	waitNS                            atomic.Int64
	failing                           bool // last Write failed; touched by the sink goroutine only
}

// New returns a Logger for the sinks. It starts nothing: call Run.
func New(opts Options, sinks ...SinkOptions) (*Logger, error) {
	if len(sinks) == 0 {
		return nil, errors.New("predlog: no sinks")
	}
	key := opts.RedactKey
	if len(key) == 0 {
		key = nil // mask
	}
	l := &Logger{
		redact: newRedactor(opts.Redact, key),
		seed:   opts.Seed,
		drain:  opts.DrainTimeout,
		log:    opts.Log,
		now:    opts.Now,
		stop:   make(chan struct{}),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	if l.drain <= 0 {
		l.drain = DefaultDrainTimeout
	}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if l.now == nil {
		l.now = time.Now
	}
	names := map[string]bool{}
	for i, so := range sinks {
		switch {
		case so.Sink == nil:
			return nil, fmt.Errorf("predlog: sink %d (%q): no Sink", i, so.Name)
		case names[so.Name]:
			return nil, fmt.Errorf("predlog: sink %d: name %q used twice", i, so.Name)
		case math.IsNaN(so.Sample) || so.Sample < 0 || so.Sample > 1:
			return nil, fmt.Errorf("predlog: sink %q: sample %v is outside 0..1", so.Name, so.Sample)
		case so.QueueSize < 0 || so.BatchSize < 0 || so.FlushInterval < 0:
			return nil, fmt.Errorf("predlog: sink %q: queue size, batch size and flush interval must not be negative", so.Name)
		}
		names[so.Name] = true
		if so.Sample == 0 {
			so.Sample = 1
		}
		if so.QueueSize == 0 {
			so.QueueSize = DefaultQueueSize
		}
		if so.BatchSize == 0 {
			so.BatchSize = DefaultBatchSize
		}
		if so.FlushInterval == 0 {
			so.FlushInterval = DefaultFlushInterval
		}
		q := &queue{SinkOptions: so, ch: make(chan Record, so.QueueSize)}
		q.bound, q.all = threshold(so.Sample)
		l.sampled = l.sampled || !q.all
		l.queues = append(l.queues, q)
	}
	return l, nil
}

// Wants reports whether some sink would keep a record with this request
// id, so that the caller can skip building records nobody samples.
func (l *Logger) Wants(requestID string) bool {
	if l == nil || l.closed.Load() {
		return false
	}
	if !l.sampled || requestID == "" {
		return true
	}
	h := sampleHash(requestID, l.seed)
	for _, q := range l.queues {
		if q.all || h < q.bound {
			return true
		}
	}
	return false
}

// Log redacts rec and queues it for each sink that samples it. It never
// blocks, except on a Required sink whose queue is full, where it waits
// for room. A full queue, or a Logger shutting down, drops the record and
// counts it. Log never modifies rec's slices (redaction copies), but the
// sinks read them later: the caller must not change them afterwards.
func (l *Logger) Log(rec Record) {
	if l == nil {
		return
	}
	l.active.Add(1)
	defer l.active.Add(-1)
	var h uint64
	if l.sampled {
		if rec.RequestID != "" {
			h = sampleHash(rec.RequestID, l.seed)
		} else {
			h = mix64(l.seq.Add(1) ^ l.seed)
		}
	}
	prepared := false
	for _, q := range l.queues {
		if !q.all && h >= q.bound {
			q.skipped.Add(1)
			continue
		}
		if l.closed.Load() {
			q.dropped.Add(1)
			continue
		}
		if !prepared {
			rec.Inputs = l.redact.apply(rec.Inputs)
			if rec.Time.IsZero() {
				rec.Time = l.now()
			}
			prepared = true
		}
		select {
		case q.ch <- rec:
			continue
		default:
		}
		if !q.Required {
			q.dropped.Add(1)
			continue
		}
		q.waits.Add(1)
		start := time.Now()
		select {
		case q.ch <- rec:
		case <-l.abort:
			q.dropped.Add(1)
		}
		q.waitNS.Add(int64(time.Since(start)))
	}
}

// SinkStats are one sink's counters. Every record Log is given ends up in
// exactly one of Skipped, Dropped, Written or Failed, or is still Queued
// (or in a batch being written).
type SinkStats struct {
	// Name of the sink.
	Name string
	// Required reports whether the sink applies back-pressure.
	Required bool
	// Skipped counts records this sink's sampling left out.
	Skipped uint64
	// Dropped counts records lost because the queue was full or the
	// Logger was shutting down.
	Dropped uint64
	// Written counts records the sink accepted.
	Written uint64
	// Failed counts records in batches the sink failed to write.
	Failed uint64
	// WriteErrors counts failed Write calls, including those a required
	// sink retried.
	WriteErrors uint64
	// Waits counts Log calls that waited (or are waiting) for room in a
	// required sink's queue, and WaitTime is the total of finished waits.
	Waits    uint64
	WaitTime time.Duration
	// Queued is the number of records in the queue now, of QueueSize.
	Queued, QueueSize int
}

// Stats returns every sink's counters, in the order the sinks were given.
func (l *Logger) Stats() []SinkStats {
	if l == nil {
		return nil
	}
	out := make([]SinkStats, len(l.queues))
	for i, q := range l.queues {
		out[i] = SinkStats{
			Name:        q.Name,
			Required:    q.Required,
			Skipped:     q.skipped.Load(),
			Dropped:     q.dropped.Load(),
			Written:     q.written.Load(),
			Failed:      q.failed.Load(),
			WriteErrors: q.writeErrors.Load(),
			Waits:       q.waits.Load(),
			WaitTime:    time.Duration(q.waitNS.Load()),
			Queued:      len(q.ch),
			QueueSize:   cap(q.ch),
		}
	}
	return out
}

// Run writes queued records until ctx ends or Close is called, then shuts
// down: it stops accepting records, writes those already queued (for at
// most Options.DrainTimeout; what is left then is counted as failed),
// closes the sinks and returns their Close errors. Run may be called once.
func (l *Logger) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("predlog: Run called twice, or after Close")
	}
	l.run(ctx)
	return l.closeErr
}

// Close shuts the Logger down as Run does and waits until it has; without
// Run, it writes the queued records itself. It is idempotent and returns
// the sinks' Close errors.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.stopOnce.Do(func() { close(l.stop) })
	if l.running.CompareAndSwap(false, true) {
		l.run(context.Background())
	}
	<-l.done
	return l.closeErr
}

func (l *Logger) run(ctx context.Context) {
	// Writes outlive ctx so that shutdown can drain; they are cancelled
	// when the drain timeout runs out.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	drain := make(chan struct{})
	var wg sync.WaitGroup
	for _, q := range l.queues {
		wg.Go(func() { l.work(wctx, q, drain) })
	}
	select {
	case <-ctx.Done():
	case <-l.stop:
	}

	l.closed.Store(true)
	deadline := time.AfterFunc(l.drain, func() {
		close(l.abort) // releases Log calls waiting on a required sink
		cancel()       // fails writes in progress and those to come
	})
	// Log calls that began before closed was set may still be queueing;
	// once they are done nothing more arrives, and the queues can be
	// emptied for good.
	for l.active.Load() != 0 {
		time.Sleep(50 * time.Microsecond)
	}
	close(drain)
	wg.Wait()
	deadline.Stop()

	var errs []error
	for _, q := range l.queues {
		if err := q.Sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing prediction log sink %q: %w", q.Name, err))
		}
	}
	l.closeErr = errors.Join(errs...)
	close(l.done)
}
