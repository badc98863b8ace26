package monitor

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fibInv is the inverse of fibMul modulo 2^64: hashOf(p) * fibMul == p.
var fibInv = func() uint64 {
	inv := uint64(fibMul) // right in the low 3 bits; each step doubles them
	for range 5 {
		inv *= 2 - fibMul*inv
	}
	return inv
}()

// hashOf returns the hash whose product with fibMul is p, so that tests
// choose where a hash goes: its home is p's top bits, its tag p's high
// half.
func hashOf(p uint64) uint64 { return p * fibInv }

// hashAt returns a hash whose home in x is pos; key tells hashes of the
// same home apart (below 2^32 they share a tag too).
func (x *slotIndex) hashAt(pos, key uint64) uint64 {
	return hashOf(pos<<x.shift | key&(1<<x.shift-1))
}

// verify checks that x holds each of its slots once, with the tag of the
// slot's hash, and reachable from the hash's home without crossing an
// empty entry; slots holds the slots' hashes.
func (x *slotIndex) verify(slots []slot) error {
	if uint64(len(x.entries)) != x.mask+1 || x.mask&(x.mask+1) != 0 || 64-x.shift != uint(bits.Len64(x.mask)) {
		return fmt.Errorf("index of %d entries has mask %#x and shift %d", len(x.entries), x.mask, x.shift)
	}
	seen := make(map[uint32]bool)
	hashes := make(map[uint64]bool)
	n := 0
	for j, e := range x.entries {
		if e == 0 {
			continue
		}
		n++
		i := uint32(e) - 1
		if uint32(e) == 0 || int(i) >= len(slots) {
			return fmt.Errorf("entry %d: slot %d of %d", j, i, len(slots))
		}
		if seen[i] {
			return fmt.Errorf("entry %d: slot %d is in the index twice", j, i)
		}
		seen[i] = true
		h := slots[i].hash
		if hashes[h] {
			return fmt.Errorf("entry %d: hash %#x is in the index twice", j, h)
		}
		hashes[h] = true
		if p := h * fibMul; e>>32 != p>>32 || x.home(e) != p>>x.shift {
			return fmt.Errorf("entry %d: tag %#x, home %d; slot %d has hash %#x, tag %#x, home %d", j, e>>32, x.home(e), i, h, p>>32, p>>x.shift)
		}
		for k := x.home(e); k != uint64(j); k = (k + 1) & x.mask {
			if x.entries[k] == 0 {
				return fmt.Errorf("entry %d: slot %d of home %d lies past the empty entry %d", j, i, x.home(e), k)
			}
		}
	}
	if n != x.n {
		return fmt.Errorf("index counts %d entries, holds %d", x.n, n)
	}
	return nil
}

// layout returns the slot of each entry of x, -1 for an empty one.
func (x *slotIndex) layout() []int {
	out := make([]int, len(x.entries))
	for j, e := range x.entries {
		out[j] = int(uint32(e)) - 1
		if e == 0 {
			out[j] = -1
		}
	}
	return out
}

func TestSlotIndexSize(t *testing.T) {
	tests := []struct {
		limit int
		want  int
	}{
		{1, 8},
		{2, 8},
		{4, 8},
		{5, 16},
		{8, 16},
		{9, 32},
		{1000, 2048},
		{1024, 2048},
		{1 << 20, 1 << 21},
		{1_000_000, 1 << 21},
		{1<<20 + 1, 1 << 22},
	}
	for _, tt := range tests {
		x := newSlotIndex(tt.limit)
		if len(x.entries) != tt.want || x.mask != uint64(tt.want-1) || 1<<(64-x.shift) != tt.want {
			t.Errorf("newSlotIndex(%d): %d entries, mask %#x, shift %d; want %d entries", tt.limit, len(x.entries), x.mask, x.shift, tt.want)
		}
		if 2*tt.limit > len(x.entries) {
			t.Errorf("newSlotIndex(%d): %d entries, more than half full at the limit", tt.limit, len(x.entries))
		}
		x.free()
	}
}

func TestSlotIndexOps(t *testing.T) {
	// op is an insert, remove or find of the hash with home and key in
	// an index of 8 entries for 4 slots; for a find, slot is the one
	// expected.
	type op struct {
		kind      byte // 'i', 'r' or 'f'
		home, key uint64
		slot      uint32
		want      bool // what a remove or find reports
	}
	ins := func(home, key uint64, slot uint32) op { return op{'i', home, key, slot, true} }
	rem := func(home, key uint64, slot uint32, want bool) op { return op{'r', home, key, slot, want} }
	find := func(home, key uint64, slot uint32, want bool) op { return op{'f', home, key, slot, want} }
	const other = 1 << 40 // a key with another tag than keys below 2^32
	tests := []struct {
		name   string
		ops    []op
		layout []int // slot of each entry at the end, -1 for none
	}{
		{"insert and find", []op{
			ins(3, 1, 0), find(3, 1, 0, true), find(3, 2, 0, false), find(4, 1, 0, false),
		}, []int{-1, -1, -1, 0, -1, -1, -1, -1}},
		{"same home", []op{
			ins(2, 1, 0), ins(2, other, 1), ins(2, 2*other, 2),
			find(2, 1, 0, true), find(2, other, 1, true), find(2, 2*other, 2, true), find(2, 3*other, 0, false),
		}, []int{-1, -1, 0, 1, 2, -1, -1, -1}},
		{"same tag other hash", []op{
			ins(5, 1, 0), find(5, 2, 0, false), ins(5, 2, 1),
			find(5, 1, 0, true), find(5, 2, 1, true), find(5, 3, 0, false),
			rem(5, 1, 0, true), find(5, 1, 0, false), find(5, 2, 1, true),
		}, []int{-1, -1, -1, -1, -1, 1, -1, -1}},
		{"probe run taking a later home", []op{
			ins(1, 1, 0), ins(1, 2, 1), ins(2, 3, 2), find(2, 3, 2, true), find(2, 4, 0, false),
		}, []int{-1, 0, 1, 2, -1, -1, -1, -1}},
		{"wrap-around", []op{
			ins(6, 1, 0), ins(7, 2, 1), ins(7, 3, 2), ins(6, 4, 3),
			find(6, 1, 0, true), find(7, 2, 1, true), find(7, 3, 2, true), find(6, 4, 3, true), find(7, 5, 0, false),
		}, []int{2, 3, -1, -1, -1, -1, 0, 1}},
		{"remove at the end moves wrapped entries back", []op{
			ins(6, 1, 0), ins(7, 2, 1), ins(7, 3, 2), ins(6, 4, 3),
			rem(7, 2, 1, true),
			find(6, 1, 0, true), find(7, 2, 1, false), find(7, 3, 2, true), find(6, 4, 3, true),
		}, []int{3, -1, -1, -1, -1, -1, 0, 2}},
		{"remove keeps an entry at its home after the hole", []op{
			ins(7, 1, 0), ins(0, 2, 1), ins(7, 3, 2),
			rem(7, 1, 0, true),
			find(7, 1, 0, false), find(0, 2, 1, true), find(7, 3, 2, true),
		}, []int{1, -1, -1, -1, -1, -1, -1, 2}},
		{"remove in the middle of a run", []op{
			ins(1, 1, 0), ins(1, 2, 1), ins(3, 3, 2), ins(2, 4, 3),
			rem(1, 2, 1, true),
			find(1, 1, 0, true), find(1, 2, 1, false), find(3, 3, 2, true), find(2, 4, 3, true),
		}, []int{-1, 0, 3, 2, -1, -1, -1, -1}},
		{"remove the last of a run", []op{
			ins(4, 1, 0), ins(4, 2, 1), rem(4, 2, 1, true), find(4, 1, 0, true), find(4, 2, 1, false),
		}, []int{-1, -1, -1, -1, 0, -1, -1, -1}},
		{"remove the first of a run", []op{
			ins(4, 1, 0), ins(4, 2, 1), ins(4, 3, 2), rem(4, 1, 0, true),
			find(4, 2, 1, true), find(4, 3, 2, true),
		}, []int{-1, -1, -1, -1, 1, 2, -1, -1}},
		{"remove what is not there", []op{
			ins(4, 1, 0), rem(4, 1, 1, false), rem(4, other, 0, false), rem(5, 1, 0, false), find(4, 1, 0, true),
		}, []int{-1, -1, -1, -1, 0, -1, -1, -1}},
		{"reinsert after remove", []op{
			ins(0, 1, 0), ins(0, 2, 1), rem(0, 1, 0, true), ins(0, 1, 2),
			find(0, 1, 2, true), find(0, 2, 1, true),
		}, []int{1, 2, -1, -1, -1, -1, -1, -1}},
		{"all entries in one run", []op{
			ins(7, 1, 0), ins(7, 2, 1), ins(7, 3, 2), ins(7, 4, 3),
			rem(7, 2, 1, true), rem(7, 4, 3, true), ins(7, 5, 1), ins(7, 6, 3),
			find(7, 1, 0, true), find(7, 3, 2, true), find(7, 5, 1, true), find(7, 6, 3, true), find(7, 2, 0, false),
		}, []int{2, 1, 3, -1, -1, -1, -1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newSlotIndex(4)
			if len(x.entries) != 8 {
				t.Fatalf("index of %d entries, want 8", len(x.entries))
			}
			slots := make([]slot, 4)
			for k, o := range tt.ops {
				h := x.hashAt(o.home, o.key)
				switch o.kind {
				case 'i':
					slots[o.slot].hash = h
					x.insert(h, o.slot)
				case 'r':
					if got := x.remove(h, o.slot); got != o.want {
						t.Fatalf("op %d: remove(home %d key %#x, slot %d) = %v, want %v", k, o.home, o.key, o.slot, got, o.want)
					}
				case 'f':
					i, ok := x.find(h, slots)
					if ok != o.want || ok && i != o.slot {
						t.Fatalf("op %d: find(home %d key %#x) = %d, %v; want %d, %v", k, o.home, o.key, i, ok, o.slot, o.want)
					}
				}
				if err := x.verify(slots); err != nil {
					t.Fatalf("op %d: %v", k, err)
				}
			}
			if got := x.layout(); !reflect.DeepEqual(got, tt.layout) {
				t.Errorf("layout %v, want %v", got, tt.layout)
			}
		})
	}
}

// TestSlotIndexChurn keeps an index full the way Recent does, forgetting
// the oldest slot for each new hash, and compares it with a map.
func TestSlotIndexChurn(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		rounds int // times every slot is replaced
		// hash returns a new hash for an index of size entries.
		hash func(rng *rand.Rand, x *slotIndex) uint64
	}{
		{"random one slot", 1, 2000, func(rng *rand.Rand, _ *slotIndex) uint64 { return rng.Uint64() }},
		{"random few slots", 3, 1000, func(rng *rand.Rand, _ *slotIndex) uint64 { return rng.Uint64() }},
		{"random power of two", 64, 200, func(rng *rand.Rand, _ *slotIndex) uint64 { return rng.Uint64() }},
		{"random", 1000, 50, func(rng *rand.Rand, _ *slotIndex) uint64 { return rng.Uint64() }},
		{"homes at the end", 200, 50, func(rng *rand.Rand, x *slotIndex) uint64 {
			return x.hashAt(x.mask-uint64(rng.IntN(3)), rng.Uint64())
		}},
		{"one home one tag", 100, 50, func(rng *rand.Rand, x *slotIndex) uint64 {
			return x.hashAt(x.mask, rng.Uint64()&(1<<32-1))
		}},
		{"sequential hashes", 500, 50, func(rng *rand.Rand, x *slotIndex) uint64 {
			return rng.Uint64N(4 * 500)
		}},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 11))
				x := newSlotIndex(tt.limit)
				slots := make([]slot, tt.limit)
				ref := make(map[uint64]uint32)
				head, n := 0, 0
				fresh := func() uint64 {
					for {
						if h := tt.hash(rng, &x); func() bool { _, ok := ref[h]; return !ok }() {
							return h
						}
					}
				}
				steps := tt.rounds * tt.limit
				for step := 0; step < steps; step++ {
					if n == tt.limit {
						old := slots[head].hash
						if !x.remove(old, uint32(head)) {
							t.Fatalf("step %d: remove of slot %d failed", step, head)
						}
						delete(ref, old)
						if _, ok := x.find(old, slots); ok {
							t.Fatalf("step %d: removed hash %#x still found", step, old)
						}
						head = (head + 1) % tt.limit
						n--
					}
					h := fresh()
					i := uint32((head + n) % tt.limit)
					n++
					x.insert(h, i)
					slots[i].hash = h
					ref[h] = i
					// A remembered hash and one that is not.
					for _, h := range []uint64{slots[(head+rng.IntN(n))%tt.limit].hash, fresh()} {
						want, wantOK := ref[h]
						if got, ok := x.find(h, slots); got != want || ok != wantOK {
							t.Fatalf("step %d: find(%#x) = %d, %v; want %d, %v", step, h, got, ok, want, wantOK)
						}
					}
					if x.n != len(ref) {
						t.Fatalf("step %d: index counts %d, want %d", step, x.n, len(ref))
					}
					if step%101 == 0 || step == steps-1 {
						if err := x.verify(slots); err != nil {
							t.Fatalf("step %d: %v", step, err)
						}
					}
				}
				for h, want := range ref {
					if got, ok := x.find(h, slots); !ok || got != want {
						t.Fatalf("find(%#x) = %d, %v; want %d", h, got, ok, want)
					}
				}
			})
		}
	}
}
