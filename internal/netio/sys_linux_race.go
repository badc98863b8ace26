//go:build linux && (386 || race || msan || asan)

package netio

import "syscall"

// With the race detector (or a memory sanitizer), reads and writes go
// through the syscall package, which tells the detector what a raw
// system call hides from it: that the kernel wrote the bytes read, and
// that a write to a connection happens before the read of what it wrote
// (the net package's reads and writes say so; without it, goroutines
// that hand memory over through a connection look racy).
// On 386, whose socket calls go through socketcall(2) and have no
// numbers of their own, they go through it too.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return n, errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return n, errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
