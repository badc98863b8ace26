//go:build !linux

package netio

import "net"

// raw is never made off Linux: Conn uses the net.Conn's own Read and Write.
type raw struct {
	pend    []byte
	pendErr error
}

func newRaw(net.Conn) *raw { return nil }

func (*raw) read(nc net.Conn, p []byte) (int, error)  { return nc.Read(p) }
func (*raw) write(nc net.Conn, p []byte) (int, error) { return nc.Write(p) }
