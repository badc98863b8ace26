package predlog

import (
	"unsafe"

	"github.com/sluicehq/sluice/internal/inference"
)

// fromCallReference is FromCall as it was before it allocated its Values
// and numbers together, kept to check it against.
func fromCallReference(inputs []inference.Tensor, tabular *inference.TensorSpec, outputs []inference.Tensor) (in, out []Value) {
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
	a := refArena{vals: make([]Value, 0, nv)}
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
			a.vals = append(a.vals, Value{Name: f.Name, Datatype: string(t.Datatype), Num: all[c*rows : (c+1)*rows : (c+1)*rows]})
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

// refArena hands out the Values' shapes and numbers from shared arrays sized
// beforehand.
type refArena struct {
	vals   []Value
	shapes []int64
	nums   []float64
}

// take returns the next n numbers, capped at n.
func (a *refArena) take(n int) []float64 {
	k := len(a.nums)
	a.nums = a.nums[:k+n]
	return a.nums[k : k+n : k+n]
}

func (a *refArena) fromTensor(t *inference.Tensor) Value {
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
