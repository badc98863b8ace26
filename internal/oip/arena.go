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

// arena hands out the memory of a block's arena. Each piece is handed
// out once and belongs to one string or slice of the result from then on.
type arena struct {
	mem []uint64
	off int // bytes handed out, counting alignment
}

// take returns size bytes aligned to align (a power of two, at most 8),
// or nil when they do not fit or size is 0.
func (a *arena) take(size, align int) unsafe.Pointer {
	off := (a.off + align - 1) &^ (align - 1)
	if size <= 0 || size > len(a.mem)*8-off {
		return nil
	}
	a.off = off + size
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(a.mem)), off)
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

// tensorBlock is reqBlock for DecodeTensors: the first tensor and an
// arena, A, an array of words. The tensors escape to the caller and live
// as long as it keeps them, so the block comes in a few sizes, each one
// of the allocator's size classes, and newTensorBlock picks one by the
// size of what is left to decode.
type tensorBlock[A any] struct {
	first [1]inference.Tensor
	arena A
}

// tensorSize is the size of a tensor, the part of a tensorBlock before
// its arena.
const tensorSize = int(unsafe.Sizeof(inference.Tensor{}))

// newTensorBlock allocates a tensorBlock whose arena has room for about
// rest bytes, and returns room for its first tensor and its arena.
//
// rest is the length of the JSON left from the start of the tensors'
// array, and the arena is given about as much: what it receives (names,
// shapes and data) is about as long as its JSON or shorter, but for
// small integers (8 bytes for "1,"). The sizes are the allocator's size
// classes up to 512 bytes, the largest block without a header for the
// garbage collector. A block sized so, rather than always the largest,
// made a small answer decode a few percent faster: the tensors escape to
// the caller, and each byte less is one the allocator need not clear nor
// the garbage collector count.
func newTensorBlock(rest int) ([]inference.Tensor, []uint64) {
	switch need := tensorSize + rest; {
	case need <= 224:
		return tensorBlockOf[[(224 - tensorSize) / 8]uint64]()
	case need <= 240:
		return tensorBlockOf[[(240 - tensorSize) / 8]uint64]()
	case need <= 256:
		return tensorBlockOf[[(256 - tensorSize) / 8]uint64]()
	case need <= 288:
		return tensorBlockOf[[(288 - tensorSize) / 8]uint64]()
	case need <= 320:
		return tensorBlockOf[[(320 - tensorSize) / 8]uint64]()
	case need <= 384:
		return tensorBlockOf[[(384 - tensorSize) / 8]uint64]()
	}
	return tensorBlockOf[[(512 - tensorSize) / 8]uint64]()
}

func tensorBlockOf[A any]() ([]inference.Tensor, []uint64) {
	blk := new(tensorBlock[A])
	words := int(unsafe.Sizeof(blk.arena)) / 8
	return blk.first[:0:1], unsafe.Slice((*uint64)(unsafe.Pointer(&blk.arena)), words)
}
