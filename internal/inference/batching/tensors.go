package batching

import (
	"github.com/sluicehq/sluice/internal/inference"
)

// stack returns the calls' inputs stacked along the first dimension, in
// order. The inputs share name, datatype and trailing dimensions.
func stack(calls []*call, rows int) inference.Tensor {
	first := &calls[0].in
	t := inference.Tensor{Name: first.Name, Datatype: first.Datatype, Shape: make([]int64, len(first.Shape))}
	copy(t.Shape, first.Shape)
	t.Shape[0] = int64(rows)
	n := 0
	for _, c := range calls {
		n += c.in.Len()
	}
	switch first.Datatype {
	case inference.FP32, inference.FP16:
		t.F32 = gather(calls, n, func(t *inference.Tensor) []float32 { return t.F32 })
	case inference.FP64:
		t.F64 = gather(calls, n, func(t *inference.Tensor) []float64 { return t.F64 })
	case inference.UINT64:
		t.U64 = gather(calls, n, func(t *inference.Tensor) []uint64 { return t.U64 })
	case inference.BOOL:
		t.Bool = gather(calls, n, func(t *inference.Tensor) []bool { return t.Bool })
	case inference.BYTES:
		t.Bytes = gather(calls, n, func(t *inference.Tensor) [][]byte { return t.Bytes })
	default:
		t.I64 = gather(calls, n, func(t *inference.Tensor) []int64 { return t.I64 })
	}
	return t
}

func gather[T any](calls []*call, n int, data func(*inference.Tensor) []T) []T {
	out := make([]T, 0, n)
	for _, c := range calls {
		out = append(out, data(&c.in)...)
	}
	return out
}

// split cuts the outputs of a merged call into each call's rows. ok is
// false when an output is not row-aligned: its first dimension is not the
// merged rows, or its data does not match its shape.
func split(outs []inference.Tensor, calls []*call, rows int) (parts [][]inference.Tensor, ok bool) {
	for i := range outs {
		o := &outs[i]
		if len(o.Shape) == 0 || o.Shape[0] != int64(rows) || o.Validate() != nil {
			return nil, false
		}
	}
	parts = make([][]inference.Tensor, len(calls))
	for i := range parts {
		parts[i] = make([]inference.Tensor, len(outs))
	}
	for j := range outs {
		o := &outs[j]
		per := 1 // elements per row
		if rows > 0 {
			per = o.Len() / rows
		}
		off := 0
		for i, c := range calls {
			p := &parts[i][j]
			p.Name, p.Datatype = o.Name, o.Datatype
			p.Shape = make([]int64, len(o.Shape))
			copy(p.Shape, o.Shape)
			p.Shape[0] = int64(c.rows)
			lo, hi := off*per, (off+c.rows)*per
			switch o.Datatype {
			case inference.FP32, inference.FP16:
				p.F32 = o.F32[lo:hi:hi]
			case inference.FP64:
				p.F64 = o.F64[lo:hi:hi]
			case inference.UINT64:
				p.U64 = o.U64[lo:hi:hi]
			case inference.BOOL:
				p.Bool = o.Bool[lo:hi:hi]
			case inference.BYTES:
				p.Bytes = o.Bytes[lo:hi:hi]
			default:
				p.I64 = o.I64[lo:hi:hi]
			}
			off += c.rows
		}
	}
	return parts, true
}
