package netio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// raw holds a socket's syscall.RawConn and the state of the call in
// progress: the callbacks are bound once so that a call allocates nothing.
type raw struct {
	rc syscall.RawConn

	rp, wp     []byte // what the read fills, what the write has left
	rn, wn     int    // bytes read, bytes written
	rerr, werr syscall.Errno
	readFn     func(uintptr) bool
	writeFn    func(uintptr) bool

	// pend is what the next read writes first (WriteOnRead); pendErr is
	// how that write failed. When the socket takes only part of it, the
	// read returns to finish it with write.
	pend      []byte
	pendErr   error
	pendErrno syscall.Errno // how the write in doRead failed
}

func newRaw(nc net.Conn) *raw {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil // a wrapper whose SyscallConn may bypass its own framing
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &raw{rc: rc}
	r.readFn, r.writeFn = r.doRead, r.doWrite
	return r
}

// doRead is one read attempt: false to wait for readability. With pend
// set it first writes pend and, when all of it went, waits: the answer
// cannot be there yet.
func (r *raw) doRead(fd uintptr) bool {
	if r.pend != nil {
		for len(r.pend) > 0 {
			n, e := sysWrite(fd, r.pend)
			switch e {
			case 0:
				r.pend = r.pend[n:]
				continue
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return true // finish with write, outside the read
			}
			r.pendErrno = e
			r.pend = nil
			goto read // the peer may have answered before it failed
		}
		r.pend = nil
		return false
	}
read:
	for {
		n, e := sysRead(fd, r.rp)
		switch e {
		case 0:
			r.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rerr = e
		return true
	}
}

// doWrite writes until all is written: false to wait for writability.
func (r *raw) doWrite(fd uintptr) bool {
	for len(r.wp) > 0 {
		n, e := sysWrite(fd, r.wp)
		switch e {
		case 0:
			r.wn += n
			r.wp = r.wp[n:]
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.werr = e
		return true
	}
	return true
}

func (r *raw) read(nc net.Conn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp, r.rn, r.rerr = p, 0, 0
	err := r.rc.Read(r.readFn)
	if r.pend != nil {
		// The write in the read did not finish (blocked), or the read
		// failed before it was tried (a deadline, a close).
		rest := r.pend
		r.pend = nil
		switch {
		case err != nil:
			r.pendErr = opError("write", nc, unwrapRaw(err))
		default:
			if _, werr := r.write(nc, rest); werr != nil {
				r.pendErr = werr
			}
			err = r.rc.Read(r.readFn)
		}
	}
	if r.pendErrno != 0 {
		r.pendErr = opError("write", nc, os.NewSyscallError("write", r.pendErrno))
		r.pendErrno = 0
	}
	n, e := r.rn, r.rerr
	r.rp = nil
	switch {
	case err != nil:
		return 0, opError("read", nc, unwrapRaw(err))
	case e != 0:
		return 0, opError("read", nc, os.NewSyscallError("read", e))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (r *raw) write(nc net.Conn, p []byte) (int, error) {
	r.wp, r.wn, r.werr = p, 0, 0
	var err error
	if len(p) > 0 {
		err = r.rc.Write(r.writeFn)
	}
	n, e := r.wn, r.werr
	r.wp = nil
	switch {
	case err != nil:
		return n, opError("write", nc, unwrapRaw(err))
	case e != 0:
		return n, opError("write", nc, os.NewSyscallError("write", e))
	}
	return n, nil
}

// unwrapRaw takes the cause out of the *net.OpError a RawConn returns
// ("raw-read", "raw-write"), so that the error is worded as net.Conn's.
func unwrapRaw(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}

func opError(op string, nc net.Conn, err error) error {
	return &net.OpError{Op: op, Net: nc.LocalAddr().Network(), Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: err}
}
