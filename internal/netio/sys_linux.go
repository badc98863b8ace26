//go:build linux && !386 && !race && !msan && !asan

package netio

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are recvfrom(2) and sendto(2) on a non-blocking
// socket as raw system calls, which do not enter the scheduler. The
// socket calls skip the file-position bookkeeping of read(2) and
// write(2), and MSG_NOSIGNAL turns a write to a closed peer into EPIPE
// without raising SIGPIPE first.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, 0, 0)
	return int(n), e
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	return int(n), e
}
