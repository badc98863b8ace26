package predlog

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
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
		Num("amount", 1.5, 2.5), Num("age", 30, 40), Num("flag", 0, 1),
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
// inputs and the outputs, in two allocations, and that no Value can grow
// into another's memory.
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
			out: []inference.Tensor{{Name: "p", Datatype: inference.FP32, Shape: []int64{1}, F32: []float32{0.42}}}, wantAllocs: 2},
		{name: "features", spec: spec, in: []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{2, 2}, F64: []float64{1, 2, 3, 4}}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.INT64, Shape: []int64{2}, I64: []int64{0, 1}}, {Name: "s", Datatype: inference.BYTES, Shape: []int64{1}, Bytes: [][]byte{[]byte("x")}}}, wantAllocs: 3},
		{name: "failed", in: []inference.Tensor{{Name: "x", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{1}}}, wantAllocs: 2, wantNilOuts: true},
		{name: "nothing", wantAllocs: 0, wantNilIn: true, wantNilOuts: true},
		{name: "shapes without elements", in: []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{0, 3}}},
			out: []inference.Tensor{{Name: "p", Datatype: inference.INT64, Shape: []int64{0}}}, wantAllocs: 2},
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
