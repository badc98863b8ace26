package predlog

import (
	"github.com/sluicehq/sluice/internal/inference"
)

// FromTensors converts a request's or response's tensors into Values,
// copying their elements, so the record does not share memory with
// buffers the caller may reuse. When tabular is not nil and names the
// features of an [N, F] input, that tensor becomes F named features of N
// values each, so that they can be redacted and filtered by name; other
// tensors keep their name, datatype and shape.
func FromTensors(ts []inference.Tensor, tabular *inference.TensorSpec) []Value {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	split := -1
	if tabular != nil && len(tabular.Features) > 0 {
		for i := range ts {
			t := &ts[i]
			if t.Name == tabular.Name && t.Datatype != inference.BYTES && len(t.Shape) == 2 && int(t.Shape[1]) == len(tabular.Features) && t.Len() == int(t.Shape[0])*len(tabular.Features) {
				split = i
				n += len(tabular.Features) - 1
				break
			}
		}
	}
	out := make([]Value, 0, n)
	for i := range ts {
		t := &ts[i]
		if i != split {
			out = append(out, fromTensor(t))
			continue
		}
		rows, cols := int(t.Shape[0]), len(tabular.Features)
		all := make([]float64, rows*cols) // column-major: one allocation for every feature
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				all[c*rows+r] = element(t, r*cols+c)
			}
		}
		for c, f := range tabular.Features {
			out = append(out, Value{Name: f.Name, Num: all[c*rows : (c+1)*rows : (c+1)*rows]})
		}
	}
	return out
}

func fromTensor(t *inference.Tensor) Value {
	v := Value{Name: t.Name, Datatype: string(t.Datatype)}
	if len(t.Shape) > 0 {
		v.Shape = append([]int64(nil), t.Shape...)
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
	v.Num = make([]float64, n)
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
