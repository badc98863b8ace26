package remote

import (
	"fmt"
	"math"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// inputSpec is what Predict checks one input against.
type inputSpec struct {
	name  string
	dt    inference.Datatype
	shape []int64 // nil when unknown; -1 is any size
}

// inputSpecs derives the checks from the signature: a tabular input
// without a shape is [-1, features].
func inputSpecs(sig *inference.Signature) []inputSpec {
	specs := make([]inputSpec, len(sig.Inputs))
	for i, in := range sig.Inputs {
		specs[i] = inputSpec{name: in.Name, dt: in.Datatype, shape: in.Shape}
		if len(in.Shape) == 0 && len(in.Features) > 0 {
			specs[i].shape = []int64{-1, int64(len(in.Features))}
		}
	}
	return specs
}

// prepare checks the caller's tensors against the signature and returns
// what to send: the same slice when nothing needs changing, otherwise a
// copy with datatypes converted to the declared ones and a single row
// given as [F] reshaped to [1, F]. Every error is an *inference.InputError.
func prepare(specs []inputSpec, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if len(inputs) < len(specs) {
		return nil, missingInput(specs, inputs)
	}
	out := inputs
	var seen uint64 // inputs matched, by spec index (up to 64; more are rare)
	for i := range inputs {
		t := &inputs[i]
		j := -1
		for k := range specs {
			if specs[k].name == t.Name {
				j = k
				break
			}
		}
		if j < 0 {
			return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "the model has no input %q (inputs: %s)", t.Name, specNames(specs))
		}
		if j < 64 {
			if seen&(1<<j) != 0 {
				return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "input %q is given twice", t.Name)
			}
			seen |= 1 << j
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		spec := &specs[j]
		shape, err := checkShape(t, spec.shape)
		if err != nil {
			return nil, err
		}
		if len(shape) == len(t.Shape) && (t.Datatype == spec.dt || spec.dt == "") {
			continue
		}
		if &out[0] == &inputs[0] {
			out = append([]inference.Tensor(nil), inputs...)
		}
		c := &out[i]
		c.Shape = shape
		if spec.dt != "" && t.Datatype != spec.dt {
			if *c, err = convert(*c, spec.dt); err != nil {
				return nil, err
			}
		}
	}
	if len(inputs) != len(specs) {
		return nil, missingInput(specs, inputs)
	}
	return out, nil
}

// checkShape compares a tensor's shape with the declared one and returns
// the shape to send: t.Shape, or [1, F] for a single row given as [F].
func checkShape(t *inference.Tensor, want []int64) ([]int64, error) {
	if want == nil {
		return t.Shape, nil
	}
	got := t.Shape
	if len(got) == 1 && len(want) == 2 && want[0] == -1 && want[1] == got[0] {
		return []int64{1, got[0]}, nil
	}
	if len(got) != len(want) {
		return nil, inference.Inputf(t.Name+".shape", "is %s, want %s", formatShape(got), formatShape(want))
	}
	for k, d := range want {
		if d >= 0 && got[k] != d {
			return nil, inference.Inputf(t.Name+".shape", "is %s, want %s", formatShape(got), formatShape(want))
		}
	}
	return got, nil
}

func missingInput(specs []inputSpec, inputs []inference.Tensor) error {
	for _, s := range specs {
		found := false
		for i := range inputs {
			found = found || inputs[i].Name == s.name
		}
		if !found {
			return inference.Inputf("inputs", "input %q is missing (the model takes %s)", s.name, specNames(specs))
		}
	}
	return inference.Inputf("inputs", "has %d inputs, the model takes %s", len(inputs), specNames(specs))
}

func specNames(specs []inputSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = fmt.Sprintf("%q", s.name)
	}
	return strings.Join(names, ", ")
}

// formatShape writes a shape the way JSON does: [-1,30].
func formatShape(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", d)
	}
	return string(append(b, ']'))
}

// convert returns t with its elements converted to dt, the datatype the
// model declares, which differs from t's. Numbers and BOOL (as 0 and 1)
// convert to floats freely and to integers when whole and in range;
// nothing converts to BOOL, and BYTES to or from nothing.
func convert(t inference.Tensor, dt inference.Datatype) (inference.Tensor, error) {
	out := inference.Tensor{Name: t.Name, Datatype: dt, Shape: t.Shape}
	n := t.Len()
	bad := func(i int, why string) error {
		return inference.Inputf(fmt.Sprintf("%s.data[%d]", t.Name, i), "%s for %s, the model's datatype", why, dt)
	}
	if t.Datatype == inference.BYTES || dt == inference.BYTES || dt == inference.BOOL {
		return out, inference.Inputf(t.Name+".datatype", "is %s, the model takes %s", t.Datatype, dt)
	}
	switch dt {
	case inference.FP32, inference.FP16:
		out.F32 = make([]float32, n)
		for i := range n {
			v := value(&t, i)
			if dt == inference.FP16 && math.Abs(v) > 65504 && !math.IsInf(v, 0) {
				return out, bad(i, "out of range")
			}
			out.F32[i] = float32(v)
		}
	case inference.FP64:
		out.F64 = make([]float64, n)
		for i := range n {
			out.F64[i] = value(&t, i)
		}
	case inference.UINT64:
		out.U64 = make([]uint64, n)
		for i := range n {
			switch {
			case t.Datatype == inference.UINT64:
				out.U64[i] = t.U64[i]
			case t.Datatype.IsInteger():
				if t.I64[i] < 0 {
					return out, bad(i, "negative")
				}
				out.U64[i] = uint64(t.I64[i])
			default:
				v := value(&t, i)
				if v != math.Trunc(v) || v < 0 || v >= 1<<64 {
					return out, bad(i, fmt.Sprintf("%g is not a whole number in range", v))
				}
				out.U64[i] = uint64(v)
			}
		}
	default:
		lo, hi := intRange(dt)
		out.I64 = make([]int64, n)
		for i := range n {
			var v int64
			switch {
			case t.Datatype == inference.UINT64:
				if t.U64[i] > uint64(hi) {
					return out, bad(i, "out of range")
				}
				v = int64(t.U64[i])
			case t.Datatype.IsInteger():
				v = t.I64[i]
			default:
				f := value(&t, i)
				if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
					return out, bad(i, fmt.Sprintf("%g is not a whole number in range", f))
				}
				v = int64(f)
			}
			if v < lo || v > hi {
				return out, bad(i, fmt.Sprintf("%d is out of range (%d..%d)", v, lo, hi))
			}
			out.I64[i] = v
		}
	}
	return out, nil
}

// value returns element i of a numeric tensor as float64.
func value(t *inference.Tensor, i int) float64 {
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
	}
	return float64(t.I64[i])
}

// intRange returns the values an integer datatype held in I64 can take.
func intRange(dt inference.Datatype) (lo, hi int64) {
	switch dt {
	case inference.INT8:
		return math.MinInt8, math.MaxInt8
	case inference.INT16:
		return math.MinInt16, math.MaxInt16
	case inference.INT32:
		return math.MinInt32, math.MaxInt32
	case inference.UINT8:
		return 0, math.MaxUint8
	case inference.UINT16:
		return 0, math.MaxUint16
	case inference.UINT32:
		return 0, math.MaxUint32
	}
	return math.MinInt64, math.MaxInt64
}
