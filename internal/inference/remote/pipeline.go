package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// This file holds HTTP/1.1 pipelining (RFC 9112 §9.3.2) for calls whose
// answers nobody waits for: the gateway's shadow and challenger copies.
// Several requests are written on one kept-alive connection with one
// system call, and their responses, which a server sends in request
// order, are read back one after the other, mostly from the same read.
// Per copy this saves a write, a read and the wake-ups of both ends.
//
// A server that does not pipeline still works: one that closes after a
// response (Connection: close, or HTTP/1.0 without keep-alive) ends the
// pipeline there, and the requests it did not answer are sent again one
// by one on fresh connections, as Predict sends them. So are those left
// unanswered by a connection that broke or a response that could not be
// read. Inference is idempotent, so a request the server may have seen
// is safe to send again.

// maxPipelineBytes bounds the requests written at once on a connection.
// Every request is written before any response is read, so a server that
// reads a request only after writing the previous response could leave
// both ends blocked on writes once the requests outgrow the sockets'
// buffers; 64 KiB stays well within them.
const maxPipelineBytes = 64 << 10

// pipeCall is one call of a pipelined batch.
type pipeCall struct {
	i     int     // index in the caller's batch
	bp    *[]byte // request: m.headRoom bytes of room, then the body
	rows  int     // TF Serving instances
	done  bool    // settled: reported to the caller
	retry error   // answered with a status another replica may not give
}

// PredictPipelined predicts each element of batch as Predict would, and
// calls done once for each element, with its index, on the calling
// goroutine, in no particular order. Calls to a replica reached over
// plain http are pipelined on one connection (see above); others are
// made one after the other. ctx's deadline, or the version's timeout when
// that comes first, bounds the whole batch rather than each call.
func (m *Model) PredictPipelined(ctx context.Context, batch [][]inference.Tensor, done func(i int, outputs []inference.Tensor, err error)) {
	if m.closed.Load() {
		for i := range batch {
			done(i, nil, errClosed)
		}
		return
	}
	calls := make([]pipeCall, 0, len(batch))
	for i, in := range batch {
		ins, err := prepare(m.specs, in)
		var bp *[]byte
		var rows int
		if err == nil {
			bp, rows, err = m.encode(ins)
		}
		if err != nil {
			done(i, nil, err)
			continue
		}
		calls = append(calls, pipeCall{i: i, bp: bp, rows: rows})
	}
	m.pipelineCalls(ctx, calls, m.deadline(ctx), done)
}

// pipelineCalls makes calls, encoded, by pipelines of at most
// maxPipelineBytes, reports each to done and recycles its request.
func (m *Model) pipelineCalls(ctx context.Context, calls []pipeCall, dl deadline, done func(i int, outputs []inference.Tensor, err error)) {
	for len(calls) > 0 {
		r := m.pick(nil)
		n, size := 1, len(*calls[0].bp)
		for n < len(calls) && size+len(*calls[n].bp) <= maxPipelineBytes {
			size += len(*calls[n].bp)
			n++
		}
		if r.pool != nil && n > 1 {
			m.pipeline(ctx, r, calls[:n], dl, done)
		}
		for k := range calls[:n] {
			c := &calls[k]
			if !c.done {
				m.finish(ctx, r, c, dl, done)
			}
			putBuf(c.bp) // the transport path may still read it: see finish
		}
		calls = calls[n:]
	}
}

// pipeline sends calls on one connection to r and settles those it can:
// answered with outputs or an error, or failed by a timeout or the end of
// ctx. Calls answered with a status another replica may not give are
// marked for retry; the others are left for finish.
func (m *Model) pipeline(ctx context.Context, r *replica, calls []pipeCall, dl deadline, done func(int, []inference.Tensor, error)) {
	reqs := make([][]byte, len(calls))
	for k := range calls {
		reqs[k] = m.withHead(ctx, r, *calls[k].bp)
	}
	settle := func(c *pipeCall, out []inference.Tensor, err error) {
		c.done = true
		done(c.i, out, err)
	}
	rb := getBuf()
	n, body, err := r.pool.pipeline(ctx, reqs, dl, (*rb)[:0], func(k, status int, body []byte) {
		c := &calls[k]
		out, a := m.answer(r, status, body, c.rows)
		if a.retry {
			c.retry = a.err
			return
		}
		settle(c, out, a.err)
	})
	*rb = body
	putBuf(rb)
	if err == nil || n == len(calls) {
		return
	}
	if errors.Is(err, errTooLarge) {
		settle(&calls[n], nil, fmt.Errorf("remote: %s: %w", r.base, err))
		return
	}
	// A timeout or the end of ctx settles every call left; after other
	// failures finish sends them again.
	if fail, retry := m.transportError(ctx, r, err, dl); !retry {
		for k := n; k < len(calls); k++ {
			settle(&calls[k], nil, fail)
		}
	}
}

// finish makes a call pipeline did not settle. One answered with a
// retryable status goes to another healthy replica, as Predict's second
// attempt would, or fails with that status when there is none. One left
// unanswered is sent on its own, to r again unless r was just marked
// down, with Predict's retry on another replica.
func (m *Model) finish(ctx context.Context, r *replica, c *pipeCall, dl deadline, done func(int, []inference.Tensor, error)) {
	var out []inference.Tensor
	var err error
	recycle := true
	switch {
	case c.retry != nil:
		err = c.retry
		if second := m.pick(r); second != nil {
			var res result
			out, res = m.attempt(ctx, second, *c.bp, c.rows, dl)
			err, recycle = res.err, res.recycle
		}
	default:
		first := r
		if !r.healthy.Load() {
			if other := m.pick(r); other != nil {
				first = other
			}
		}
		out, recycle, err = m.send(ctx, first, *c.bp, c.rows, dl)
	}
	if !recycle {
		c.bp = new([]byte) // net/http may still read the request: leave it to the GC
	}
	c.done = true
	done(c.i, out, err)
}

// pipeline writes reqs, complete requests, together on one connection
// and reads their responses in order, calling each with every response's
// index, status and body (valid until each returns). It returns how many
// responses it read and the error that stopped it before the last, if
// any; fewer responses and no error mean the server closed the
// connection after the last one it sent. Like roundTrip, it tries a new
// connection once when a kept-alive one turns out to be closed.
func (p *connPool) pipeline(ctx context.Context, reqs [][]byte, dl deadline, dst []byte, each func(k, status int, body []byte)) (int, []byte, error) {
	for {
		c := p.get(dl.now)
		reused := c != nil
		if c == nil {
			var err error
			if c, err = p.dial(ctx, dl.t); err != nil {
				return 0, dst, err
			}
		}
		n, keep, started, body, err := c.pipeline(ctx, reqs, dl, dst, each)
		dst = body
		if err == nil && keep {
			p.put(c, dl.now)
		} else {
			c.close()
		}
		if err != nil && reused && !started && ctx.Err() == nil && time.Now().Before(dl.t) {
			continue // a kept-alive connection the server had closed: try a new one
		}
		return n, dst, err
	}
}

// pipeline is exchange for several requests; see connPool.pipeline.
func (c *httpConn) pipeline(ctx context.Context, reqs [][]byte, dl deadline, dst []byte, each func(k, status int, body []byte)) (n int, keep, started bool, _ []byte, err error) {
	if err := c.arm(ctx, dl); err != nil {
		return 0, false, false, dst, err
	}
	joined := getBuf()
	defer putBuf(joined)
	b := (*joined)[:0]
	for _, r := range reqs {
		b = append(b, r...)
	}
	*joined = b
	// One write, from within the first read when the connection is quiet
	// (see exchange). Read even when the write failed: the server may
	// have answered the requests it did receive before closing.
	var werr error
	quiet := c.idleSince.IsZero() || dl.now.Sub(c.idleSince) < quietIdle
	if quiet {
		c.io.WriteOnRead(b)
	} else {
		_, werr = c.io.Write(b)
	}
	keep = true
	for n < len(reqs) && keep {
		var resp response
		var st bool
		resp, keep, st, err = c.readResponse(dst[:0])
		dst = resp.body
		started = started || st
		if err != nil {
			keep = false
			break
		}
		each(n, resp.status, resp.body)
		n++
	}
	if quiet {
		werr = c.io.Flush()
	}
	keep, err = c.disarm(keep, werr, err)
	return n, keep, started, dst, err
}
