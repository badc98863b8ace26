package gateway

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// Copies to a version on an external model server are sent in batches,
// pipelined on one connection (package remote), which costs the gateway
// and the model server a fraction of the system calls and wake-ups of
// one call per copy. Batches form on their own: a worker that takes such
// a copy from the queue adds it to its version's lane; when no batch of
// that version is in flight, the worker waits a moment
// (MirrorOptions.Gather) for more copies to join, sends the lane's copies
// at once, and goes on sending whatever gathered meanwhile until the lane
// is empty. A copy that finds a batch in flight waits for it to return,
// unless a full batch (MirrorOptions.Pipeline copies) has gathered, which
// another worker then sends in parallel. At low rates every batch is one
// copy, sent after the gathering wait; under load batches grow, and the
// number of connections in use with them.
//
// A batch shares one deadline, MirrorOptions.Timeout from its start. The
// latency recorded for a copy is the server's time on it: from the later
// of the batch's start and the previous answer to its own answer (a
// server answers pipelined requests in order), so copies deep in a batch
// do not look slower for the copies ahead of them.

// pipeliner is a runtime that can send several predictions at once;
// *remote.Model is one.
type pipeliner interface {
	PredictPipelined(ctx context.Context, batch [][]inference.Tensor, done func(i int, outputs []inference.Tensor, err error))
}

// lane holds one mirrored version's copies waiting to be sent in a batch.
type lane struct {
	pending []mirrorJob
	senders int // workers sending a batch of this lane
}

// pipeWorker is a worker's reusable batch state.
type pipeWorker struct {
	batch  []mirrorJob
	inputs [][]inference.Tensor
	slot   []int // batch index of each element of inputs
}

// pipelined returns the runtime of a copy that may go in a batch: a
// loaded version whose runtime pipelines, with pipelining on and the
// copy not traced (a traced copy keeps its own span and call).
func (g *Gateway) pipelined(j mirrorJob) pipeliner {
	if g.mirrors.pipeline <= 1 || !j.backend.Ready() || (g.tracer != nil && j.trace.IsValid()) {
		return nil
	}
	p, _ := j.backend.Runtime.(pipeliner)
	return p
}

// joinLane adds j to its version's lane and, when no batch of the lane is
// in flight or a full batch has gathered, sends batches until the lane is
// empty. When ctx ends, the copies still in the lane are dropped.
func (g *Gateway) joinLane(ctx context.Context, p pipeliner, j mirrorJob, w *pipeWorker) {
	m := g.mirrors
	m.mu.Lock()
	l := m.lanes[j.backend]
	if l == nil {
		l = &lane{}
		m.lanes[j.backend] = l
	}
	l.pending = append(l.pending, j)
	if l.senders > 0 && len(l.pending) < m.pipeline {
		m.mu.Unlock()
		return
	}
	l.senders++
	if m.gather > 0 && len(l.pending) < m.pipeline {
		// Let more copies join (they see a sender and return) before
		// sending; a full batch that gathers meanwhile goes with another
		// worker.
		m.mu.Unlock()
		t := time.NewTimer(m.gather)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		m.mu.Lock()
		if len(l.pending) == 0 {
			// A worker that found a full batch took them all.
			l.senders--
			if l.senders == 0 {
				delete(m.lanes, j.backend)
			}
			m.mu.Unlock()
			return
		}
	}
	for {
		n := min(len(l.pending), m.pipeline)
		w.batch = append(w.batch[:0], l.pending[:n]...)
		k := copy(l.pending, l.pending[n:])
		clear(l.pending[k:])
		l.pending = l.pending[:k]
		m.mu.Unlock()

		if ctx.Err() != nil {
			m.dropped.Add(uint64(len(w.batch)))
		} else {
			g.runBatch(ctx, p, w)
		}
		clear(w.batch) // let go of the copies' inputs

		m.mu.Lock()
		if len(l.pending) == 0 {
			break
		}
	}
	l.senders--
	if l.senders == 0 {
		delete(m.lanes, j.backend)
	}
	m.mu.Unlock()
}

// runBatch sends w.batch, copies to one version, as one pipelined batch
// and records each copy's outcome as runMirror would.
func (g *Gateway) runBatch(ctx context.Context, p pipeliner, w *pipeWorker) {
	ctx, cancel := context.WithTimeout(ctx, g.mirrors.timeout)
	defer cancel()
	start := time.Now()
	w.inputs, w.slot = w.inputs[:0], w.slot[:0]
	for i, j := range w.batch {
		inputs, err := adaptInputs(j.inputs, j.backend)
		if err != nil {
			g.mirrorDone(j, nil, nil, time.Since(start), err, nil)
			continue
		}
		w.inputs = append(w.inputs, inputs)
		w.slot = append(w.slot, i)
	}
	if len(w.inputs) > 0 {
		last := start // answers come one at a time, in order
		p.PredictPipelined(ctx, w.inputs, func(i int, outputs []inference.Tensor, err error) {
			now := time.Now()
			took := now.Sub(last)
			last = now
			g.mirrorDone(w.batch[w.slot[i]], w.inputs[i], outputs, took, err, nil)
		})
	}
	clear(w.inputs)
}
