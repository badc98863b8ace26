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

// doRead is one read attempt: false to wait for readability.
func (r *raw) doRead(fd uintptr) bool {
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
