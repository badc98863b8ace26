package onnx

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"

	"github.com/sluicehq/sluice/internal/inference"
)

// Conversions between request tensors and the Go slices ONNX Runtime
// tensors are built from. The rules, documented in docs/formats/onnx.md:
//
//   - the same type passes through (FP32, FP64, INT64, UINT64, BOOL without
//     copying);
//   - floats narrow (FP64 to FP32, anything to FP16 or BFLOAT16) by rounding
//     to nearest, as numpy's astype does; a finite value that would
//     overflow to infinity is refused;
//   - integers and BOOL become floats only when the value is exactly
//     representable (|v| <= 2^24 always is for FP32, 2^53 for FP64);
//   - floats become integers only when whole and in range; integers change
//     width only in range;
//   - BOOL takes 0 and 1 of any numeric type (and false/true);
//   - BYTES goes only to and from STRING, without NUL bytes.

// inputData converts t's elements into the slice type ONNX Runtime takes
// for et: []float32, []float64, []int8 ... []uint64, []bool, []uint16 (FP16
// and BFLOAT16 bits) or []string. Problems are *inference.InputError naming
// the input.
func inputData(t *inference.Tensor, et elemType) (any, error) {
	if t.Datatype == inference.BYTES && et != elemString {
		return nil, inference.Inputf(t.Name+".datatype", "BYTES cannot be converted to the model's %s input", et)
	}
	switch et {
	case elemFloat:
		return toFloat32(t)
	case elemDouble:
		return toFloat64(t)
	case elemFloat16:
		return toSmallFloat(t, float64ToHalf, func(h uint16) float64 { return float64(halfToFloat32(h)) }, "FP16")
	case elemBFloat16:
		return toSmallFloat(t, float64ToBFloat16, func(h uint16) float64 { return float64(bfloat16ToFloat32(h)) }, "BFLOAT16")
	case elemInt8:
		return toInts[int8](t, et)
	case elemInt16:
		return toInts[int16](t, et)
	case elemInt32:
		return toInts[int32](t, et)
	case elemInt64:
		if t.Datatype.IsInteger() && t.Datatype != inference.UINT64 {
			return t.I64, nil
		}
		return toInts[int64](t, et)
	case elemUint8:
		return toInts[uint8](t, et)
	case elemUint16:
		return toInts[uint16](t, et)
	case elemUint32:
		return toInts[uint32](t, et)
	case elemUint64:
		if t.Datatype == inference.UINT64 {
			return t.U64, nil
		}
		return toInts[uint64](t, et)
	case elemBool:
		return toBool(t)
	case elemString:
		return toStrings(t)
	}
	return nil, fmt.Errorf("onnx: input %q: element type %s is not supported", t.Name, et)
}

func elementError(t *inference.Tensor, i int, format string, args ...any) error {
	return inference.Inputf(fmt.Sprintf("%s.data[%d]", t.Name, i), format, args...)
}

func toFloat32(t *inference.Tensor) ([]float32, error) {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return t.F32, nil
	case inference.FP64:
		out := make([]float32, len(t.F64))
		for i, v := range t.F64 {
			f := float32(v)
			if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
				return nil, elementError(t, i, "%g overflows the model's FP32 input", v)
			}
			out[i] = f
		}
		return out, nil
	}
	out := make([]float32, t.Len())
	err := eachExact(t, 24, func(i int, v float64) { out[i] = float32(v) }, "FP32")
	return out, err
}

func toFloat64(t *inference.Tensor) ([]float64, error) {
	switch t.Datatype {
	case inference.FP64:
		return t.F64, nil
	case inference.FP32, inference.FP16:
		out := make([]float64, len(t.F32))
		for i, v := range t.F32 {
			out[i] = float64(v)
		}
		return out, nil
	}
	out := make([]float64, t.Len())
	err := eachExact(t, 53, func(i int, v float64) { out[i] = v }, "FP64")
	return out, err
}

// eachExact calls set with each element of an integer or BOOL tensor as a
// float64, refusing integers wider than mantBits significant bits (those
// the target float type cannot hold exactly).
func eachExact(t *inference.Tensor, mantBits int, set func(int, float64), target string) error {
	switch {
	case t.Datatype == inference.BOOL:
		for i, v := range t.Bool {
			if v {
				set(i, 1)
			} else {
				set(i, 0)
			}
		}
	case t.Datatype == inference.UINT64:
		for i, v := range t.U64 {
			if bits.Len64(v)-bits.TrailingZeros64(v) > mantBits {
				return elementError(t, i, "%d cannot be represented exactly in the model's %s input", v, target)
			}
			set(i, float64(v))
		}
	default:
		for i, v := range t.I64 {
			a := uint64(v)
			if v < 0 {
				a = -a
			}
			if a != 0 && bits.Len64(a)-bits.TrailingZeros64(a) > mantBits {
				return elementError(t, i, "%d cannot be represented exactly in the model's %s input", v, target)
			}
			set(i, float64(v))
		}
	}
	return nil
}

// toSmallFloat converts to FP16 or BFLOAT16 bits: floats round, integers
// and BOOL must be exact.
func toSmallFloat(t *inference.Tensor, narrow func(float64) uint16, widen func(uint16) float64, target string) ([]uint16, error) {
	out := make([]uint16, t.Len())
	conv := func(i int, v float64, exact bool) error {
		h := narrow(v)
		w := widen(h)
		if math.IsInf(w, 0) && !math.IsInf(v, 0) {
			return elementError(t, i, "%g overflows the model's %s input", v, target)
		}
		if exact && w != v {
			return elementError(t, i, "%g cannot be represented exactly in the model's %s input", v, target)
		}
		out[i] = h
		return nil
	}
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		for i, v := range t.F32 {
			if err := conv(i, float64(v), false); err != nil {
				return nil, err
			}
		}
	case inference.FP64:
		for i, v := range t.F64 {
			if err := conv(i, v, false); err != nil {
				return nil, err
			}
		}
	default:
		var err error
		eerr := eachExact(t, 53, func(i int, v float64) {
			if err == nil {
				err = conv(i, v, true)
			}
		}, target)
		if eerr != nil {
			return nil, eerr
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type integer interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// toInts converts to an integer type: integers in range, whole floats in
// range, BOOL as 0 and 1.
func toInts[T integer](t *inference.Tensor, et elemType) ([]T, error) {
	lo, hi := et.intBounds()
	dt, _ := et.datatype()
	// Float bounds: lo inclusive, hiF exclusive (float64(hi)+1 is exact or,
	// for 64-bit types, rounds to the 2^63 or 2^64 bound itself).
	loF, hiF := float64(lo), float64(hi)+1
	out := make([]T, t.Len())
	fromFloat := func(i int, v float64) error {
		if v != math.Trunc(v) || !(v >= loF && v < hiF) {
			return elementError(t, i, "%g is not a whole number in the range of the model's %s input", v, dt)
		}
		if v < 0 {
			out[i] = T(int64(v))
		} else {
			out[i] = T(uint64(v))
		}
		return nil
	}
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		for i, v := range t.F32 {
			if err := fromFloat(i, float64(v)); err != nil {
				return nil, err
			}
		}
	case inference.FP64:
		for i, v := range t.F64 {
			if err := fromFloat(i, v); err != nil {
				return nil, err
			}
		}
	case inference.BOOL:
		for i, v := range t.Bool {
			if v {
				out[i] = 1
			}
		}
	case inference.UINT64:
		for i, v := range t.U64 {
			if v > hi {
				return nil, elementError(t, i, "%d is out of range for the model's %s input", v, dt)
			}
			out[i] = T(v)
		}
	default:
		for i, v := range t.I64 {
			if v < lo || (v > 0 && uint64(v) > hi) {
				return nil, elementError(t, i, "%d is out of range for the model's %s input", v, dt)
			}
			out[i] = T(v)
		}
	}
	return out, nil
}

// toBool takes BOOL, or 0 and 1 of any numeric type.
func toBool(t *inference.Tensor) ([]bool, error) {
	if t.Datatype == inference.BOOL {
		return t.Bool, nil
	}
	out := make([]bool, t.Len())
	check := func(i int, v float64) error {
		if v != 0 && v != 1 {
			return elementError(t, i, "%g is not 0 or 1, as the model's BOOL input needs", v)
		}
		out[i] = v == 1
		return nil
	}
	var err error
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		for i, v := range t.F32 {
			if err = check(i, float64(v)); err != nil {
				return nil, err
			}
		}
	case inference.FP64:
		for i, v := range t.F64 {
			if err = check(i, v); err != nil {
				return nil, err
			}
		}
	case inference.UINT64:
		for i, v := range t.U64 {
			if v > 1 {
				return nil, elementError(t, i, "%d is not 0 or 1, as the model's BOOL input needs", v)
			}
			out[i] = v == 1
		}
	default:
		for i, v := range t.I64 {
			if v != 0 && v != 1 {
				return nil, elementError(t, i, "%d is not 0 or 1, as the model's BOOL input needs", v)
			}
			out[i] = v == 1
		}
	}
	return out, nil
}

// toStrings takes BYTES only. ONNX Runtime copies strings through C, so a
// NUL byte would silently cut one short: such strings are refused.
func toStrings(t *inference.Tensor) ([]string, error) {
	if t.Datatype != inference.BYTES {
		return nil, inference.Inputf(t.Name+".datatype", "is %s, but the model's input is STRING: send BYTES", t.Datatype)
	}
	out := make([]string, len(t.Bytes))
	for i, b := range t.Bytes {
		if bytes.IndexByte(b, 0) >= 0 {
			return nil, elementError(t, i, "contains a NUL byte, which ONNX Runtime strings cannot hold")
		}
		out[i] = string(b)
	}
	return out, nil
}

// outputTensor builds a response tensor from the slice ONNX Runtime
// returned for an output of element type et (see inputData for the slice
// types). FP32, FP64, INT64, UINT64 and BOOL data are used without copying.
func outputTensor(name string, et elemType, shape []int64, data any) (inference.Tensor, error) {
	dt, ok := et.datatype()
	if !ok {
		return inference.Tensor{}, fmt.Errorf("onnx: output %q has element type %s, which Sluice cannot return", name, et)
	}
	out := inference.Tensor{Name: name, Datatype: dt, Shape: shape}
	switch d := data.(type) {
	case []float32:
		out.F32 = d
	case []float64:
		out.F64 = d
	case []int64:
		out.I64 = d
	case []uint64:
		out.U64 = d
	case []bool:
		out.Bool = d
	case []int8:
		out.I64 = widen(d)
	case []int16:
		out.I64 = widen(d)
	case []int32:
		out.I64 = widen(d)
	case []uint8:
		out.I64 = widen(d)
	case []uint16:
		switch et {
		case elemFloat16:
			out.F32 = make([]float32, len(d))
			for i, h := range d {
				out.F32[i] = halfToFloat32(h)
			}
		case elemBFloat16:
			out.F32 = make([]float32, len(d))
			for i, h := range d {
				out.F32[i] = bfloat16ToFloat32(h)
			}
		default:
			out.I64 = widen(d)
		}
	case []uint32:
		out.I64 = widen(d)
	case []string:
		out.Bytes = make([][]byte, len(d))
		for i, s := range d {
			out.Bytes[i] = []byte(s)
		}
	default:
		return inference.Tensor{}, fmt.Errorf("onnx: output %q: unexpected data %T for element type %s", name, data, et)
	}
	return out, nil
}

func widen[T int8 | int16 | int32 | uint8 | uint16 | uint32](d []T) []int64 {
	out := make([]int64, len(d))
	for i, v := range d {
		out[i] = int64(v)
	}
	return out
}
