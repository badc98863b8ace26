package oip

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

func TestReqBlockSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("blocks are sized for the allocator's classes on 64-bit platforms")
	}
	if got := unsafe.Sizeof(reqBlock{}); got != blockSize {
		t.Errorf("reqBlock takes %d bytes, want %d", got, blockSize)
	}
	if off := unsafe.Offsetof(reqBlock{}.arena); off%8 != 0 {
		t.Errorf("the arena is at offset %d, not aligned to 8", off)
	}
}

func TestArenaTake(t *testing.T) {
	const size = arenaWords * 8
	tests := []struct {
		name  string
		takes [][2]int // size, align
		want  []int    // offset of each piece, -1 for nil
	}{
		{"aligned", [][2]int{{1, 1}, {8, 8}, {3, 1}, {4, 4}, {2, 2}}, []int{0, 8, 16, 20, 24}},
		{"empty", [][2]int{{0, 1}, {0, 8}, {1, 1}}, []int{-1, -1, 0}},
		{"exactly full", [][2]int{{size - 8, 1}, {8, 8}, {1, 1}}, []int{0, size - 8, -1}},
		{"too big", [][2]int{{size + 1, 1}, {size, 1}}, []int{-1, 0}},
		{"no room after alignment", [][2]int{{size - 7, 1}, {4, 8}, {4, 4}}, []int{0, -1, size - 4}},
		{"negative", [][2]int{{-1, 1}, {1, 1}}, []int{-1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var blk reqBlock
			a := arena{mem: blk.arena[:]}
			base := uintptr(unsafe.Pointer(&blk.arena))
			for i, tk := range tt.takes {
				got := -1
				if p := a.take(tk[0], tk[1]); p != nil {
					got = int(uintptr(p) - base)
				}
				if got != tt.want[i] {
					t.Errorf("take %d (%d bytes aligned to %d) at %d, want %d", i, tk[0], tk[1], got, tt.want[i])
				}
			}
		})
	}
	var none arena
	if p := none.take(1, 1); p != nil {
		t.Error("an arena without memory handed out memory")
	}
	if s := none.int64s(3); len(s) != 0 || cap(s) != 3 {
		t.Errorf("int64s(3) without an arena: len %d cap %d", len(s), cap(s))
	}
	if s := none.string([]byte("abc")); s != "abc" {
		t.Errorf("string without an arena: %q", s)
	}
}

// TestDecodeInferRequestAllocs checks that a small request is decoded in
// one allocation.
func TestDecodeInferRequestAllocs(t *testing.T) {
	for _, body := range []string{
		harnessRequest,
		string(benchRequest(1, 30)),
		`{"inputs":[{"name":"b","shape":[3],"datatype":"BOOL","data":[true,false,true]}],"outputs":[]}`,
		`{"inputs":[{"data":[[1,2],[3,4]],"name":"i","datatype":"INT64","shape":[2,2]}]}`,
	} {
		b := []byte(body)
		if allocs := testing.AllocsPerRun(20, func() { DecodeInferRequest(b, Limits{}) }); allocs != 1 {
			t.Errorf("%s: %v allocations, want 1", body, allocs)
		}
	}
}

// arenaBodies are requests that fill the arena in different ways: not at
// all, exactly, or past its end in the middle of a request.
func arenaBodies() []string {
	long := strings.Repeat("n", arenaWords*8)
	fill := func(n int) string { return strings.Repeat("x", n) }
	floats := func(n int) string {
		var b []string
		for i := range n {
			b = append(b, fmt.Sprint(float32(i)/8))
		}
		return strings.Join(b, ",")
	}
	return []string{
		harnessRequest,
		`{"id":"` + long + `","inputs":[{"name":"a","shape":[2],"datatype":"FP64","data":[1.5,2]}]}`,
		`{"inputs":[{"name":"` + long + `","shape":[2],"datatype":"INT8","data":[1,2]}],"outputs":[{"name":"` + long + `"}]}`,
		// The id leaves room for the name and shape, with and without
		// padding, or for the data too.
		`{"id":"` + fill(arenaWords*8-20) + `","inputs":[{"name":"ab","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`,
		`{"id":"` + fill(arenaWords*8-19) + `","inputs":[{"name":"ab","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`,
		`{"id":"` + fill(arenaWords*8-36) + `","inputs":[{"name":"ab","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`,
		// The shape takes one word, the data the rest of the arena or
		// one element more.
		`{"inputs":[{"name":"x","shape":[` + fmt.Sprint(arenaWords*2-2) + `],"datatype":"FP32","data":[` + floats(arenaWords*2-2) + `]}]}`,
		`{"inputs":[{"name":"x","shape":[` + fmt.Sprint(arenaWords*2-1) + `],"datatype":"FP32","data":[` + floats(arenaWords*2-1) + `]}]}`,
		`{"inputs":[{"name":"x","shape":[3],"datatype":"UINT64","data":[1,2,3]},{"name":"y","shape":[2,2],"datatype":"BOOL","data":[[true,false],[false,true]]},` +
			`{"name":"z","shape":[1,1,1,1,1,1,1,1,1,1,2],"datatype":"BYTES","data":["a","\u00e9"]},{"name":"w","shape":[12],"datatype":"INT32","data":[1,2,3,4,5,6,7,8,9,10,11,12]}],` +
			`"parameters":{"k":"` + fill(40) + `"},"outputs":[{"name":"o1"},{"name":"o2","parameters":{"binary_data":true}}]}`,
		`{"inputs":[{"data":[1,2,3],"name":"late","datatype":"INT16","shape":[3]},{"name":"next","data":[[1],[2]],"shape":[2,1],"datatype":"FP64"}],"id":"after"}`,
	}
}

// TestDecodeInferRequestArena checks requests whose parts fill the arena
// and spill out of it: the result must match the reference decoder and
// survive the body's buffer being reused.
func TestDecodeInferRequestArena(t *testing.T) {
	bodies := arenaBodies()
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for range 300 {
		bodies = append(bodies, g.request())
	}
	for _, body := range bodies {
		want, wantErr := refDecodeInferRequest([]byte(body), Limits{}, true)
		buf := []byte(body)
		got, err := DecodeInferRequest(buf, Limits{})
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeInferRequest(%s): error %v; reference decoder: %v", body, err, wantErr)
		}
		if err != nil {
			continue
		}
		for i := range buf {
			buf[i] = '"'
		}
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("DecodeInferRequest(%s) after reusing the body differs from the reference (-ref +fast):\n%s", body, diff)
		}
	}
}

// TestDecodeInferRequestDisjoint checks that the slices of a result share
// no memory with each other or with its strings: writing every slice up to
// its capacity changes nothing else.
func TestDecodeInferRequestDisjoint(t *testing.T) {
	for _, body := range arenaBodies() {
		req, err := DecodeInferRequest([]byte(body), Limits{})
		if err != nil {
			t.Fatalf("DecodeInferRequest(%s): %v", body, err)
		}
		fresh, _ := DecodeInferRequest([]byte(body), Limits{})
		mark := func(i, k, j int) int64 { return int64(i*1000000 + k*10000 + j + 1) }
		for i := range req.Inputs {
			in := &req.Inputs[i]
			fillSlice(in.Shape, func(j int) int64 { return mark(i, 0, j) })
			fillSlice(in.F32, func(j int) float32 { return float32(mark(i, 1, j)) })
			fillSlice(in.F64, func(j int) float64 { return float64(mark(i, 2, j)) })
			fillSlice(in.I64, func(j int) int64 { return mark(i, 3, j) })
			fillSlice(in.U64, func(j int) uint64 { return uint64(mark(i, 4, j)) })
			fillSlice(in.Bool, func(j int) bool { return j%2 == 0 })
			for _, b := range in.Bytes {
				fillSlice(b, func(j int) byte { return 'B' })
			}
		}
		for i := range req.Inputs {
			in := &req.Inputs[i]
			checkSlice(t, in.Shape, func(j int) int64 { return mark(i, 0, j) })
			checkSlice(t, in.F32, func(j int) float32 { return float32(mark(i, 1, j)) })
			checkSlice(t, in.F64, func(j int) float64 { return float64(mark(i, 2, j)) })
			checkSlice(t, in.I64, func(j int) int64 { return mark(i, 3, j) })
			checkSlice(t, in.U64, func(j int) uint64 { return uint64(mark(i, 4, j)) })
			checkSlice(t, in.Bool, func(j int) bool { return j%2 == 0 })
			for _, b := range in.Bytes {
				if c := bytes.Trim(b, "B"); len(c) != 0 {
					t.Errorf("%s: inputs[%d].bytes overwritten: %q", body, i, b)
				}
			}
			if in.Name != fresh.Inputs[i].Name || in.Datatype != fresh.Inputs[i].Datatype {
				t.Errorf("%s: inputs[%d] name and datatype became %q %q", body, i, in.Name, in.Datatype)
			}
		}
		if req.ID != fresh.ID || !req.Parameters.Equal(fresh.Parameters) {
			t.Errorf("%s: id and parameters became %q %v", body, req.ID, req.Parameters)
		}
		if diff := cmp.Diff(fresh.Outputs, req.Outputs); diff != "" {
			t.Errorf("%s: outputs changed (-before +after):\n%s", body, diff)
		}
	}
}

// fillSlice writes v(j) at every index of s up to its capacity.
func fillSlice[T any](s []T, v func(j int) T) {
	s = s[:cap(s)]
	for j := range s {
		s[j] = v(j)
	}
}

// checkSlice checks what fillSlice wrote.
func checkSlice[T comparable](t *testing.T, s []T, v func(j int) T) {
	t.Helper()
	s = s[:cap(s)]
	for j := range s {
		if s[j] != v(j) {
			t.Errorf("element %d of a %T is %v, want %v: another slice shares its memory", j, s, s[j], v(j))
			return
		}
	}
}
