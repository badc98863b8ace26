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
	raw *raw // nil: use Conn's own Read and Write
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
