package predlog

import (
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
