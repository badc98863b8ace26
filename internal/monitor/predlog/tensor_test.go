package predlog

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice/internal/inference"
)

func TestFromTensors(t *testing.T) {
	spec := &inference.TensorSpec{Name: "input", Features: []inference.Feature{{Name: "amount"}, {Name: "age"}, {Name: "flag"}}}
	in := []inference.Tensor{
		{Name: "input", Datatype: inference.FP32, Shape: []int64{2, 3}, F32: []float32{1.5, 30, 0, 2.5, 40, 1}},
		{Name: "note", Datatype: inference.BYTES, Shape: []int64{2}, Bytes: [][]byte{[]byte("hi"), []byte("yo")}},
		{Name: "ids", Datatype: inference.INT64, Shape: []int64{2}, I64: []int64{7, -8}},
		{Name: "ok", Datatype: inference.BOOL, Shape: []int64{1}, Bool: []bool{true}},
	}
	got := FromTensors(in, spec)
	want := []Value{
		{Name: "amount", Datatype: "FP32", Num: []float64{1.5, 2.5}},
		{Name: "age", Datatype: "FP32", Num: []float64{30, 40}},
		{Name: "flag", Datatype: "FP32", Num: []float64{0, 1}},
		{Name: "note", Datatype: "BYTES", Shape: []int64{2}, Str: []string{"hi", "yo"}},
		{Name: "ids", Datatype: "INT64", Shape: []int64{2}, Num: []float64{7, -8}},
		{Name: "ok", Datatype: "BOOL", Shape: []int64{1}, Num: []float64{1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromTensors (-want +got):\n%s", diff)
	}
	// The values are copies.
	in[0].F32[0], in[1].Bytes[0][0], in[2].Shape[0] = 99, 'X', 99
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromTensors shares memory with its input:\n%s", diff)
	}
	// Without the spec, or with a shape that does not match it, the
	// tensor stays whole.
	whole := FromTensors(in[:1], nil)
	if len(whole) != 1 || whole[0].Name != "input" || len(whole[0].Num) != 6 {
		t.Errorf("FromTensors without a spec = %+v", whole)
	}
	in[0].Shape = []int64{3, 2}
	if got := FromTensors(in[:1], spec); len(got) != 1 {
		t.Errorf("FromTensors split a [3,2] tensor over 3 features: %+v", got)
	}
	if FromTensors(nil, spec) != nil {
		t.Error("FromTensors(nil) is not nil")
	}
}

// TestFromCall checks that FromCall gives what FromTensors gives for the
// inputs and the outputs, in one allocation when they are small and two
// otherwise, and that no Value can grow into another's memory.
func TestFromCall(t *testing.T) {
	spec := &inference.TensorSpec{Name: "input", Features: []inference.Feature{{Name: "a"}, {Name: "b"}}}
	for _, tt := range []struct {
		name        string
		in, out     []inference.Tensor
		spec        *inference.TensorSpec
		wantAllocs  float64
		wantNilIn   bool
		wantNilOuts bool
	}{
		{name: "tensors", in: []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{1, 8}, F32: make([]float32, 8)}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.FP32, Shape: []int64{1}, F32: []float32{0.42}}}, wantAllocs: 1},
		{name: "features", spec: spec, in: []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{2, 2}, F64: []float64{1, 2, 3, 4}}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.INT64, Shape: []int64{2}, I64: []int64{0, 1}}, {Name: "s", Datatype: inference.BYTES, Shape: []int64{1}, Bytes: [][]byte{[]byte("x")}}}, wantAllocs: 2},
		{name: "failed", in: []inference.Tensor{{Name: "x", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{1}}}, wantAllocs: 1, wantNilOuts: true},
		{name: "nothing", wantAllocs: 0, wantNilIn: true, wantNilOuts: true},
		{name: "shapes without elements", in: []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{0, 3}}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.INT64, Shape: []int64{0}}}, wantAllocs: 1},
		{name: "many numbers", in: []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{4, 16}, F32: make([]float32, 64)}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.FP32, Shape: []int64{4}, F32: make([]float32, 4)}}, wantAllocs: 2},
		{name: "many tensors", in: []inference.Tensor{{Name: "a", Datatype: inference.INT64}, {Name: "b", Datatype: inference.INT64},
			{Name: "c", Datatype: inference.INT64}, {Name: "d", Datatype: inference.INT64}, {Name: "e", Datatype: inference.INT64, Shape: []int64{1}, I64: []int64{1}}}, wantAllocs: 2, wantNilOuts: true},
		{name: "values only", in: []inference.Tensor{{Name: "a", Datatype: inference.INT64}}, out: []inference.Tensor{{Name: "b", Datatype: inference.BOOL}}, wantAllocs: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, out := FromCall(tt.in, tt.spec, tt.out)
			if diff := cmp.Diff(FromTensors(tt.in, tt.spec), in); diff != "" {
				t.Errorf("inputs (-FromTensors +FromCall):\n%s", diff)
			}
			if diff := cmp.Diff(FromTensors(tt.out, nil), out); diff != "" {
				t.Errorf("outputs (-FromTensors +FromCall):\n%s", diff)
			}
			if (in == nil) != tt.wantNilIn || (out == nil) != tt.wantNilOuts {
				t.Errorf("in %v, out %v", in, out)
			}
			if tt.spec == nil { // a Value per tensor
				tensors := append(slices.Clone(tt.in), tt.out...)
				for i, v := range append(slices.Clone(in), out...) {
					if !slices.Equal(v.Shape, tensors[i].Shape) {
						t.Errorf("%s: shape %v, want %v", v.Name, v.Shape, tensors[i].Shape)
					}
				}
			}
			if len(in) != cap(in) {
				t.Errorf("inputs can grow into outputs: len %d cap %d", len(in), cap(in))
			}
			for _, vs := range [][]Value{in, out} {
				for _, v := range vs {
					if len(v.Num) != cap(v.Num) || len(v.Shape) != cap(v.Shape) {
						t.Errorf("%s: Num len %d cap %d, Shape len %d cap %d", v.Name, len(v.Num), cap(v.Num), len(v.Shape), cap(v.Shape))
					}
				}
			}
			// A BYTES tensor adds its slice of strings (a one-byte string
			// costs nothing).
			if got := testing.AllocsPerRun(20, func() { FromCall(tt.in, tt.spec, tt.out) }); got != tt.wantAllocs {
				t.Errorf("%v allocations, want %v", got, tt.wantAllocs)
			}
		})
	}
}

// TestFromCallMatchesReference checks FromCall against the way it was
// written before, on calls of every datatype and many sizes, with and
// without a tabular spec.
func TestFromCallMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	types := []inference.Datatype{inference.FP32, inference.FP16, inference.FP64, inference.INT64, inference.INT8,
		inference.UINT32, inference.UINT64, inference.BOOL, inference.BYTES}
	tensor := func(name string, shape []int64) inference.Tensor {
		t := inference.Tensor{Name: name, Datatype: types[rng.IntN(len(types))], Shape: shape}
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		if rng.IntN(20) == 0 {
			n = rng.IntN(4) // elements that do not match the shape
		}
		for range n {
			switch t.Datatype {
			case inference.FP32, inference.FP16:
				t.F32 = append(t.F32, []float32{rng.Float32(), float32(rng.NormFloat64() * 1e6), float32(math.NaN()), float32(math.Inf(-1))}[rng.IntN(4)])
			case inference.FP64:
				t.F64 = append(t.F64, rng.NormFloat64())
			case inference.UINT64:
				t.U64 = append(t.U64, rng.Uint64())
			case inference.BOOL:
				t.Bool = append(t.Bool, rng.IntN(2) == 0)
			case inference.BYTES:
				t.Bytes = append(t.Bytes, []byte(strconv.Itoa(rng.IntN(1000))))
			default:
				t.I64 = append(t.I64, rng.Int64N(1000)-500)
			}
		}
		return t
	}
	shape := func() []int64 {
		s := make([]int64, rng.IntN(4))
		for i := range s {
			s[i] = int64(rng.IntN(6))
		}
		if len(s) == 0 && rng.IntN(2) == 0 {
			return nil
		}
		return s
	}
	tensors := func(prefix string) []inference.Tensor {
		var ts []inference.Tensor
		for i := range rng.IntN(7) {
			ts = append(ts, tensor(prefix+strconv.Itoa(i), shape()))
		}
		return ts
	}
	for i := range 3000 {
		in, out := tensors("in"), tensors("out")
		var spec *inference.TensorSpec
		if rng.IntN(3) == 0 {
			rows, cols := rng.IntN(4), 1+rng.IntN(12)
			spec = &inference.TensorSpec{Name: "features"}
			for c := range cols {
				spec.Features = append(spec.Features, inference.Feature{Name: "f" + strconv.Itoa(c)})
			}
			ft := tensor("features", []int64{int64(rows), int64(cols)})
			if ft.Datatype == inference.BYTES {
				ft = inference.Tensor{Name: "features", Datatype: inference.FP64, Shape: ft.Shape, F64: make([]float64, rows*cols)}
			}
			in = slices.Insert(in, rng.IntN(len(in)+1), ft)
		}
		gotIn, gotOut := FromCall(in, spec, out)
		wantIn, wantOut := fromCallReference(in, spec, out)
		if diff := cmp.Diff([][]Value{wantIn, wantOut}, [][]Value{gotIn, gotOut}, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("call %d: FromCall differs from the reference (-want +got):\n%s", i, diff)
		}
		if len(gotIn) != cap(gotIn) || len(gotOut) != cap(gotOut) {
			t.Fatalf("call %d: inputs len %d cap %d, outputs len %d cap %d", i, len(gotIn), cap(gotIn), len(gotOut), cap(gotOut))
		}
		for _, v := range append(slices.Clone(gotIn), gotOut...) {
			if len(v.Num) != cap(v.Num) || len(v.Shape) != cap(v.Shape) {
				t.Fatalf("call %d: %s: Num len %d cap %d, Shape len %d cap %d", i, v.Name, len(v.Num), cap(v.Num), len(v.Shape), cap(v.Shape))
			}
		}
	}
}

// TestBlocks checks that each block fills a size class of the allocator
// exactly, holds as many Values as its row says, and that each row is in
// order of size.
func TestBlocks(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the table of blocks is sized for the allocator's classes on 64-bit platforms")
	}
	classes := map[int]bool{}
	for _, c := range []int{112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512} {
		classes[c] = true
	}
	for n, row := range blocks {
		last := -1
		for _, b := range row {
			vals, words := b.alloc()
			size := len(vals)*int(unsafe.Sizeof(Value{})) + len(words)*8
			if len(vals) != n+1 || len(words) != b.words || !classes[size] {
				t.Errorf("row %d: block of %d Values and %d numbers (%d listed), %d bytes: want %d Values in a size class", n, len(vals), len(words), b.words, size, n+1)
			}
			if b.words <= last {
				t.Errorf("row %d: block of %d numbers after one of %d", n, b.words, last)
			}
			last = b.words
		}
	}
}
