package hugemem

import (
	"syscall"
	"unsafe"
)

// mapUint64s maps n integers, aligned to and rounded up to whole huge
// pages, and advises the kernel to back them with huge pages. The advice
// may be refused (no transparent huge pages, or none free): the table then
// works on small pages.
func mapUint64s(n int) ([]uint64, func(), bool) {
	size := (n*8 + PageSize - 1) &^ (PageSize - 1)
	// mmap aligns only to small pages: map one huge page more and start
	// the table at the first aligned address. The pages before and after
	// it are never touched, so they take address space but no memory.
	mem, err := syscall.Mmap(-1, 0, size+PageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, false
	}
	off := int(-uintptr(unsafe.Pointer(&mem[0])) & (PageSize - 1))
	region := mem[off : off+size]
	// Advice only: an error leaves small pages.
	_ = syscall.Madvise(region, madvHugepage)
	table := unsafe.Slice((*uint64)(unsafe.Pointer(&region[0])), n)
	return table, func() { _ = syscall.Munmap(mem) }, true
}

// madvHugepage is MADV_HUGEPAGE, which package syscall does not name.
const madvHugepage = 14
