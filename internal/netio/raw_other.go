//go:build !linux

package netio

import "net"

type raw struct{}

func newRaw(net.Conn) *raw { return nil }

func (*raw) read(nc net.Conn, p []byte) (int, error)  { return nc.Read(p) }
func (*raw) write(nc net.Conn, p []byte) (int, error) { return nc.Write(p) }
