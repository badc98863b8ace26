package predlog

import (
	"context"
	"time"
)

// Backoff between a required sink's write attempts.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// gatherWait is how long a sink's goroutine lets records queue up after
// taking some, before it looks again (never longer than the flush
// interval). Taking each record as it comes would wake the goroutine
// once per request: under load a context switch per request, on the
// cores that answer them. At 2 ms a default queue of 4096 fills only
// above two million records a second.
const gatherWait = 2 * time.Millisecond

// work is a sink's goroutine: it collects queued records into batches,
// writes a batch when it is full or its first record has waited
// FlushInterval, and when drain is closed writes what is left and returns.
func (l *Logger) work(ctx context.Context, q *queue, drain <-chan struct{}) {
	batch := make([]Record, 0, q.BatchSize)
	timer := time.NewTimer(q.FlushInterval)
	timer.Stop()
	defer timer.Stop()
	gather := time.NewTimer(gatherWait)
	gather.Stop()
	defer gather.Stop()
	pause := min(gatherWait, q.FlushInterval)
	var maintain <-chan time.Time
	m, _ := q.Sink.(Maintainer)
	if m != nil {
		t := time.NewTicker(MaintainInterval)
		defer t.Stop()
		maintain = t.C
	}
	for {
		select {
		case r := <-q.ch:
			if len(batch) == 0 {
				timer.Reset(q.FlushInterval)
			}
			batch = append(batch, r)
			// Take what else is queued without going back to the select:
			// under load the sink goroutine must outrun Log.
		more:
			for len(batch) < q.BatchSize {
				select {
				case r := <-q.ch:
					batch = append(batch, r)
				default:
					break more
				}
			}
			if len(batch) == q.BatchSize {
				timer.Stop()
				batch = l.flush(ctx, q, batch)
				continue
			}
			// Let more queue up before looking again; drain and the
			// flush timer are seen at the next select.
			gather.Reset(pause)
			select {
			case <-gather.C:
			case <-drain:
				gather.Stop()
			}
		case <-timer.C:
			batch = l.flush(ctx, q, batch)
		case <-maintain:
			if err := m.Maintain(ctx); err != nil {
				l.log.Warn("prediction log sink maintenance failed", "sink", q.Name, "err", err)
			}
		case <-drain:
			for {
				select {
				case r := <-q.ch:
					batch = append(batch, r)
					if len(batch) == q.BatchSize {
						batch = l.flush(ctx, q, batch)
					}
				default:
					l.flush(ctx, q, batch)
					return
				}
			}
		}
	}
}

// flush writes a batch and counts the outcome; a required sink's failed
// batch is written again, with backoff, until it succeeds or ctx ends. It
// returns the batch emptied for reuse.
func (l *Logger) flush(ctx context.Context, q *queue, batch []Record) []Record {
	if len(batch) == 0 {
		return batch
	}
	n := uint64(len(batch))
	wait := retryMin
	for {
		err := q.Sink.Write(ctx, batch)
		if err == nil {
			q.written.Add(n)
			if q.failing {
				q.failing = false
				l.log.Info("prediction log sink recovered", "sink", q.Name)
			}
			break
		}
		q.writeErrors.Add(1)
		if !q.failing {
			// Logged once per run of failures; the counters tell the rest.
			q.failing = true
			l.log.Warn("prediction log sink failing", "sink", q.Name, "records", n, "err", err)
		}
		if !q.Required || ctx.Err() != nil || !sleep(ctx, wait) {
			q.failed.Add(n)
			break
		}
		wait = min(2*wait, retryMax)
	}
	clear(batch) // let the records' inputs be collected
	return batch[:0]
}

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
