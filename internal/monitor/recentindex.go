package monitor

import (
	"math/bits"

	"github.com/sluicehq/sluice/internal/hugemem"
)

// slotIndex finds the slot of a remembered request from the hash of its
// id. It is an open-addressing hash table with linear probing, sized once
// from the memory's capacity so that it is at most half full and never
// grows (16 to 32 bytes for each slot), and made of a single slice of
// integers, which the garbage collector does not scan. A large table is
// read at random, one entry per lookup, so it lies on huge pages where the
// kernel offers them (package hugemem): on small pages most lookups in
// the default 16 MiB table would also miss the TLB.
//
// An entry is a uint64: the high 32 bits of the id hash multiplied by
// fibMul (the tag) above the slot number plus one; 0 is an empty entry.
// An entry's probe run starts at its home, the top bits of the same
// product, so the home of an entry is the top bits of its tag and no
// entry has to be hashed again. The tag tells most other hashes apart
// without reading the slot; only a tag that matches is checked against
// the full hash kept in the slot. Deletion shifts the rest of the probe
// run back over the freed entry, so the table never holds tombstones and
// a lookup ends at the first empty entry.
//
// A slotIndex holds each hash at most once and each slot at most once.
type slotIndex struct {
	entries []uint64 // a power of two of them
	mask    uint64   // len(entries)-1
	shift   uint     // 64 - log2(len(entries)); at least 32
	n       int      // entries in use
	free    func()   // releases entries (hugemem.Uint64s)
}

const (
	// fibMul spreads a hash over the table: 2^64 divided by the golden
	// ratio, made odd. A product's top bits depend on all of the hash's
	// bits, so hashes that differ only in some bits still spread out.
	fibMul = 0x9e3779b97f4a7c15
	// maxRecent is the most requests a Recent remembers: a slot number
	// plus one fits in the low 32 bits of an entry, and a table for
	// maxRecent slots, 2^32 entries, has a home within the 32 bits of a
	// tag.
	maxRecent = 1<<31 - 1
	// minIndexSize is the fewest entries in a slotIndex.
	minIndexSize = 8
)

// newSlotIndex returns an empty index for up to limit slots, at most
// maxRecent; it has the smallest power of two of entries that is at least
// twice limit. Its free must be called once it is no longer used.
func newSlotIndex(limit int) slotIndex {
	size := uint64(minIndexSize)
	if limit > minIndexSize/2 {
		size = 1 << bits.Len64(2*uint64(limit)-1)
	}
	entries, free := hugemem.Uint64s(int(size))
	return slotIndex{
		entries: entries,
		free:    free,
		mask:    size - 1,
		shift:   uint(64 - bits.TrailingZeros64(size)),
	}
}

// find returns the slot of the request whose id has hash h; slots holds
// the hashes of the slots in the index.
func (x *slotIndex) find(h uint64, slots []slot) (uint32, bool) {
	k, e := x.probe(h)
	return x.findFrom(h, k, e, slots)
}

// probe returns the home of hash h and the entry there. Loading the
// first entry of a probe run apart from looking at it lets a caller start
// two lookups before either waits for memory: in a large table, each
// first entry is most likely a cache miss, and two loads that do not
// depend on each other wait for memory at once.
func (x *slotIndex) probe(h uint64) (k, e uint64) {
	k = h * fibMul >> x.shift
	return k, x.entries[k]
}

// findFrom is find of the probe run of h from position k, whose entry is
// e.
func (x *slotIndex) findFrom(h, k, e uint64, slots []slot) (uint32, bool) {
	tag := h * fibMul >> 32
	for e != 0 {
		if e>>32 == tag {
			if i := uint32(e) - 1; slots[i].hash == h {
				return i, true
			}
		}
		k = (k + 1) & x.mask
		e = x.entries[k]
	}
	return 0, false
}

// insert adds slot i for hash h, which the index does not hold.
func (x *slotIndex) insert(h uint64, i uint32) {
	p := h * fibMul
	k := p >> x.shift
	for x.entries[k] != 0 {
		k = (k + 1) & x.mask
	}
	x.entries[k] = p>>32<<32 | uint64(i+1)
	x.n++
}

// remove deletes slot i for hash h and reports whether the index held it.
func (x *slotIndex) remove(h uint64, i uint32) bool {
	k, e := x.probe(h)
	return x.removeFrom(h, i, k, e)
}

// removeFrom is remove of slot i for hash h from position k of its probe
// run, whose entry is e.
func (x *slotIndex) removeFrom(h uint64, i uint32, k, e uint64) bool {
	want := h*fibMul>>32<<32 | uint64(i+1)
	for e != want {
		if e == 0 {
			return false
		}
		k = (k + 1) & x.mask
		e = x.entries[k]
	}
	// Move back each later entry of the run that may stand in the hole,
	// which is when the hole lies between its home and where it is.
	hole := k
	for j := (k + 1) & x.mask; ; j = (j + 1) & x.mask {
		e := x.entries[j]
		if e == 0 {
			break
		}
		if home := x.home(e); (j-home)&x.mask >= (j-hole)&x.mask {
			x.entries[hole] = e
			hole = j
		}
	}
	x.entries[hole] = 0
	x.n--
	return true
}

// home returns the position where the probe run of an entry starts.
func (x *slotIndex) home(e uint64) uint64 {
	return e >> 32 >> (x.shift - 32)
}
