//go:build linux && race

package netio

import "syscall"

// Under the race detector reads and writes go through package syscall,
// which tells the detector that what a write sends happens before what a
// read receives, as net.Conn's do; raw system calls would hide that and
// make it report races between goroutines that talk over a socket.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return fixErrno(n, err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return fixErrno(n, err)
}

func fixErrno(n int, err error) (int, syscall.Errno) {
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}
