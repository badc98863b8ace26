// Package netio reads and writes sockets without handing the scheduler's
// processor away for each system call.
//
// A read or write on a net.Conn enters the runtime's blocking-syscall
// path: the goroutine's P is marked as in a system call, and the runtime's
// monitor thread takes it away for another thread when the call has
// lasted one of its ticks (20 µs at its busiest). On a proxy sharing a
// core with the servers it talks to, a write to a socket often wakes the
// reader and is preempted before it returns, so the monitor keeps
// retaking the P, keeps itself polling every 20 µs, and the process's work
// moves between threads. Sockets from the net package are non-blocking,
// so their reads and writes return at once; Conn makes them as raw system
// calls through syscall.RawConn, which waits for readiness in the
// runtime's network poller like net.Conn does, honouring deadlines and
// Close.
//
// Conns that are not sockets (net.Pipe, TLS) and other platforms use the
// net.Conn's own Read and Write.
package netio

import (
	"io"
	"net"
)

// Conn is a net.Conn whose Read and Write make raw system calls. Like a
// net.Conn, it allows one Read and one Write at a time, concurrently with
// each other; more than one Read (or Write) at once is not allowed.
type Conn struct {
	net.Conn
	raw  *raw  // nil: use Conn's own Read and Write
	werr error // the last WriteOnRead's error
}

var _ io.ReadWriter = (*Conn)(nil)

// New wraps nc.
func New(nc net.Conn) *Conn {
	return &Conn{Conn: nc, raw: newRaw(nc)}
}

// Read reads into p like net.Conn's Read: io.EOF at the end of the
// stream, a *net.OpError for anything else.
func (c *Conn) Read(p []byte) (int, error) {
	if c.raw == nil {
		return c.Conn.Read(p)
	}
	return c.raw.read(c.Conn, p)
}

// Write writes all of p like net.Conn's Write.
func (c *Conn) Write(p []byte) (int, error) {
	if c.raw == nil {
		return c.Conn.Write(p)
	}
	return c.raw.write(c.Conn, p)
}

// WriteOnRead hands p to the next Read, which writes it before it waits
// for the answer, sparing the read that would find nothing yet (a
// system call): the wait for readability is armed before p goes out, so
// whatever the peer sends in answer wakes it. Use it only where nothing
// can arrive before p is sent, as for a request on an idle client
// connection: bytes that came in before the Read are not seen until more
// arrive (or the peer closes). p must stay unchanged until that Read
// returns or Flush is called. The write's outcome is kept for WriteErr.
// Without a raw socket, p is written at once.
func (c *Conn) WriteOnRead(p []byte) {
	c.werr = nil
	if c.raw == nil {
		_, c.werr = c.Conn.Write(p)
		return
	}
	if p == nil {
		p = []byte{} // pend is set even when there is nothing to write
	}
	c.raw.pend = p
}

// Flush writes what WriteOnRead left for a Read that did not come, and
// returns WriteErr.
func (c *Conn) Flush() error {
	if c.raw != nil && c.raw.pend != nil {
		p := c.raw.pend
		c.raw.pend = nil
		_, c.werr = c.raw.write(c.Conn, p)
	}
	return c.WriteErr()
}

// WriteErr is the error of the write WriteOnRead asked for, once the Read
// or Flush that made it has returned.
func (c *Conn) WriteErr() error {
	if c.raw != nil && c.raw.pendErr != nil {
		c.werr, c.raw.pendErr = c.raw.pendErr, nil
	}
	return c.werr
}
