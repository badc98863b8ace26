package predlog

import (
	"unsafe"

	"github.com/sluicehq/sluice/internal/inference"
)

// FromTensors converts a request's or response's tensors into Values,
// copying their elements, so the record does not share memory with
// buffers the caller may reuse. When tabular is not nil and names the
// features of an [N, F] input, that tensor becomes F named features of N
// values each, so that they can be redacted and filtered by name; other
// tensors keep their name, datatype and shape.
func FromTensors(ts []inference.Tensor, tabular *inference.TensorSpec) []Value {
	in, _ := FromCall(ts, tabular, nil)
	return in
}

// FromCall is FromTensors of a call's inputs and of its outputs (with no
// tabular spec), in two allocations however many tensors there are (and
// one more for each BYTES tensor): the Values share one backing array,
// and the shapes and the numbers another, cut so that no Value can grow
// into another's.
func FromCall(inputs []inference.Tensor, tabular *inference.TensorSpec, outputs []inference.Tensor) (in, out []Value) {
	split := splitIndex(inputs, tabular)
	var nv, dims, elems int
	for i := range inputs {
		if i == split {
			nv += len(tabular.Features)
			elems += inputs[i].Len()
			continue
		}
		nv++
		dims, elems = dims+len(inputs[i].Shape), elems+numLen(&inputs[i])
	}
	nin := nv
	for i := range outputs {
		nv++
		dims, elems = dims+len(outputs[i].Shape), elems+numLen(&outputs[i])
	}
	if nv == 0 {
		return nil, nil
	}
	a := arena{vals: make([]Value, 0, nv)}
	if dims+elems > 0 {
		// The shapes are int64s and the numbers float64s, of the same
		// size and without pointers: one array holds both, the shapes
		// first.
		all := make([]float64, dims+elems)
		if dims > 0 {
			a.shapes = unsafe.Slice((*int64)(unsafe.Pointer(&all[0])), dims)[:0]
		}
		a.nums = all[dims:dims]
	}
	for i := range inputs {
		t := &inputs[i]
		if i != split {
			a.vals = append(a.vals, a.fromTensor(t))
			continue
		}
		rows, cols := int(t.Shape[0]), len(tabular.Features)
		all := a.take(rows * cols) // column-major
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				all[c*rows+r] = element(t, r*cols+c)
			}
		}
		for c, f := range tabular.Features {
			a.vals = append(a.vals, Value{Name: f.Name, Num: all[c*rows : (c+1)*rows : (c+1)*rows]})
		}
	}
	for i := range outputs {
		a.vals = append(a.vals, a.fromTensor(&outputs[i]))
	}
	if nin > 0 {
		in = a.vals[:nin:nin]
	}
	if nv > nin {
		out = a.vals[nin:]
	}
	return in, out
}

// splitIndex returns the index of the input that tabular names the
// features of, or -1.
func splitIndex(ts []inference.Tensor, tabular *inference.TensorSpec) int {
	if tabular == nil || len(tabular.Features) == 0 {
		return -1
	}
	for i := range ts {
		t := &ts[i]
		if t.Name == tabular.Name && t.Datatype != inference.BYTES && len(t.Shape) == 2 && int(t.Shape[1]) == len(tabular.Features) && t.Len() == int(t.Shape[0])*len(tabular.Features) {
			return i
		}
	}
	return -1
}

// numLen is the number of elements of t that go to Value.Num.
func numLen(t *inference.Tensor) int {
	if t.Datatype == inference.BYTES {
		return 0
	}
	return t.Len()
}

// arena hands out the Values' shapes and numbers from shared arrays sized
// beforehand.
type arena struct {
	vals   []Value
	shapes []int64
	nums   []float64
}

// take returns the next n numbers, capped at n.
func (a *arena) take(n int) []float64 {
	k := len(a.nums)
	a.nums = a.nums[:k+n]
	return a.nums[k : k+n : k+n]
}

func (a *arena) fromTensor(t *inference.Tensor) Value {
	v := Value{Name: t.Name, Datatype: string(t.Datatype)}
	if len(t.Shape) > 0 {
		k := len(a.shapes)
		a.shapes = append(a.shapes, t.Shape...)
		v.Shape = a.shapes[k:len(a.shapes):len(a.shapes)]
	}
	if t.Datatype == inference.BYTES {
		v.Str = make([]string, len(t.Bytes))
		for i, b := range t.Bytes {
			v.Str[i] = string(b)
		}
		return v
	}
	n := t.Len()
	if n == 0 {
		return v
	}
	v.Num = a.take(n)
	for i := range v.Num {
		v.Num[i] = element(t, i)
	}
	return v
}

// element returns a numeric tensor's element i as a float64.
func element(t *inference.Tensor, i int) float64 {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return float64(t.F32[i])
	case inference.FP64:
		return t.F64[i]
	case inference.UINT64:
		return float64(t.U64[i])
	case inference.BOOL:
		if t.Bool[i] {
			return 1
		}
		return 0
	default:
		return float64(t.I64[i])
	}
}
