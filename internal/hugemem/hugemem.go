// Package hugemem allocates large tables of plain integers on transparent
// huge pages.
//
// A table of many megabytes that is read at random, such as a hash
// index, costs a TLB miss on most reads when it lies on 4 KiB pages, and
// under virtualisation a TLB miss walks two page tables. On 2 MiB pages a
// 16 MiB table needs eight TLB entries and stays mapped. Go's heap asks
// the kernel for no huge pages, so where the kernel hands them out only
// on request (transparent_hugepage=madvise, the common default), a Go
// table never gets them; this package maps such tables itself and asks.
//
// Only integers may be kept in a table: the garbage collector does not
// scan it, so pointers stored there would not keep their targets alive.
package hugemem

import "math"

// PageSize is the size of a huge page on the platforms this package
// maps: a table smaller than one gains nothing and comes from the heap.
const PageSize = 2 << 20

// Uint64s returns a zeroed table of n integers and a function that frees
// it, which must be called once, after the last use of the table. Where
// the platform or the size does not call for huge pages, the table is an
// ordinary heap slice and free does nothing; where mapping fails, it falls
// back to the heap too, so Uint64s fails only as make does.
func Uint64s(n int) (table []uint64, free func()) {
	if n >= PageSize/8 && n <= maxLen {
		if t, f, ok := mapUint64s(n); ok {
			return t, f
		}
	}
	return make([]uint64, n), func() {}
}

// maxLen bounds the length of a mapped table, so that its size in bytes
// plus a page for alignment cannot overflow an int.
const maxLen = (math.MaxInt - 2*PageSize) / 8
