package oip

import (
	"unsafe"

	"github.com/sluicehq/sluice/internal/inference"
)

// reqBlock holds in one allocation what a small inference request decodes
// to: the request, its first input, its first requested output, and an
// arena for the parts of the result that hold no pointers: the id and
// names, shapes, data and the parameters' JSON. One allocation instead of
// one per part saves the allocator's time and keeps the request on a few
// adjacent cache lines. The arena comes after every pointer, so the
// garbage collector does not scan it. What does not fit is allocated
// apart, as are further inputs and outputs.
//
// Any part of the result keeps the whole block alive; a request is used
// as a whole and dropped as a whole, so this costs nothing in practice.
type reqBlock struct {
	reqHead
	arena [arenaWords]uint64
}

// reqHead is the part of a reqBlock that holds pointers.
type reqHead struct {
	req InferRequest
	in  [1]inference.Tensor
	out [1]RequestedOutput
}

// blockSize is the size of a reqBlock: one of the allocator's size
// classes, and the largest whose objects need no header for the garbage
// collector.
const blockSize = 512

// arenaWords is the length of a reqBlock's arena; words keep it aligned
// for any element type.
const arenaWords = int(blockSize-unsafe.Sizeof(reqHead{})) / 8

// arena hands out the memory of a reqBlock's arena. Each piece is handed
// out once and belongs to one string or slice of the result from then on.
type arena struct {
	mem *[arenaWords]uint64
	off int // bytes handed out, counting alignment
}

// take returns size bytes aligned to align (a power of two, at most 8),
// or nil when they do not fit or size is 0.
func (a *arena) take(size, align int) unsafe.Pointer {
	off := (a.off + align - 1) &^ (align - 1)
	if a.mem == nil || size <= 0 || size > len(a.mem)*8-off {
		return nil
	}
	a.off = off + size
	return unsafe.Add(unsafe.Pointer(a.mem), off)
}

// arenaSlice returns an empty slice with room for n elements in the
// arena, or nil when they do not fit.
func arenaSlice[T float32 | float64 | int64 | uint64 | bool | byte](a *arena, n int) []T {
	size := int(unsafe.Sizeof(*new(T)))
	if n <= 0 || n > len(a.mem)*8/size {
		return nil
	}
	p := a.take(n*size, int(unsafe.Alignof(*new(T))))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*T)(p), n)[:0]
}

// int64s returns an empty slice with room for n int64s.
func (a *arena) int64s(n int) []int64 {
	if s := arenaSlice[int64](a, n); s != nil {
		return s
	}
	return make([]int64, 0, n)
}

// string returns a copy of b.
func (a *arena) string(b []byte) string {
	if len(b) > 1 { // Go's own conversion does not allocate for one byte
		if p := a.take(len(b), 1); p != nil {
			copy(unsafe.Slice((*byte)(p), len(b)), b)
			return unsafe.String((*byte)(p), len(b))
		}
	}
	return string(b)
}

// bytes returns a copy of b.
func (a *arena) bytes(b []byte) []byte {
	return append(arenaSlice[byte](a, len(b)), b...)
}
