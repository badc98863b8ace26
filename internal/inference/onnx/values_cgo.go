//go:build cgo

package onnx

import (
	"fmt"
	"strconv"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluicehq/sluice/internal/inference"
)

// newValue wraps converted input data (see inputData) in an ONNX Runtime
// tensor of element type et. Numeric tensors share the Go slice.
func newValue(shape []int64, data any, et elemType) (ort.Value, error) {
	switch d := data.(type) {
	case []float32:
		return newTensor(shape, d)
	case []float64:
		return newTensor(shape, d)
	case []int8:
		return newTensor(shape, d)
	case []int16:
		return newTensor(shape, d)
	case []int32:
		return newTensor(shape, d)
	case []int64:
		return newTensor(shape, d)
	case []uint8:
		return newTensor(shape, d)
	case []uint32:
		return newTensor(shape, d)
	case []uint64:
		return newTensor(shape, d)
	case []bool:
		return newTensor(shape, d)
	case []uint16:
		if et != elemFloat16 && et != elemBFloat16 {
			return newTensor(shape, d)
		}
		if len(shape) == 0 {
			return nil, fmt.Errorf("scalar %s inputs are not supported", et)
		}
		// 16-bit floats travel as raw bytes. ONNX Runtime wants at least
		// one byte even for an empty tensor; it only checks the length is
		// enough.
		raw := []byte{0, 0}
		if len(d) > 0 {
			raw = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 2*len(d))
		}
		t, err := ort.NewCustomDataTensor(ort.Shape(append([]int64{}, shape...)), raw, ort.TensorElementDataType(et))
		if err != nil {
			return nil, err
		}
		return t, nil
	case []string:
		if len(shape) == 0 {
			return nil, fmt.Errorf("scalar STRING inputs are not supported")
		}
		t, err := ort.NewStringTensor(ort.Shape(append([]int64{}, shape...)))
		if err != nil {
			return nil, err
		}
		if err := t.SetContents(d); err != nil {
			_ = t.Destroy()
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("unexpected data %T", data)
}

// newTensor returns a tensor, or a scalar for an empty shape, sharing d.
// It never returns a typed nil in the interface.
func newTensor[T ort.TensorData](shape []int64, d []T) (ort.Value, error) {
	if len(shape) == 0 {
		s, err := ort.NewScalar(d[0])
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	t, err := ort.NewTensor(ort.Shape(append([]int64{}, shape...)), d)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// onnxruntime_go v1.27.0 cannot wrap two kinds of tensors ONNX Runtime
// allocates: scalars (its tensors need a dimension) and FLOAT16 or BFLOAT16
// tensors (it copies one byte per element instead of two). Such outputs get
// a tensor of the declared shape for ONNX Runtime to write into, so FP16
// and BF16 outputs need static shapes.

// checkReturnable refuses, at load time, outputs Predict could never return.
func checkReturnable(o *ioSpec) error {
	if o.kind != kindTensor || (o.elem != elemFloat16 && o.elem != elemBFloat16) {
		return nil
	}
	ok := len(o.dims) > 0
	for _, d := range o.dims {
		ok = ok && d >= 0
	}
	if !ok {
		return fmt.Errorf("onnx: %w: output %q is a %s tensor of shape %v; Sluice returns 16-bit float outputs only when their shape is fixed (give it in the signature's outputs, or leave the output out)", inference.ErrInvalidModel, o.name, o.elem, o.dims)
	}
	return nil
}

// preallocate returns the value an output is written into, or nil to let
// ONNX Runtime allocate it.
func preallocate(o *ioSpec) (ort.Value, error) {
	if o.kind != kindTensor || o.dims == nil {
		return nil, nil
	}
	if o.elem == elemFloat16 || o.elem == elemBFloat16 {
		n := int64(1)
		for _, d := range o.dims {
			n *= d
		}
		raw := make([]byte, max(2*n, 2))
		t, err := ort.NewCustomDataTensor(ort.Shape(append([]int64{}, o.dims...)), raw, ort.TensorElementDataType(o.elem))
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	if len(o.dims) == 0 {
		return newScalar(o.elem), nil
	}
	return nil, nil
}

// newScalar returns an empty scalar of element type et for ONNX Runtime to
// write into, or nil (let ONNX Runtime allocate) for types without one.
func newScalar(et elemType) ort.Value {
	var v ort.Value
	var err error
	switch et {
	case elemFloat:
		v, err = ort.NewEmptyScalar[float32]()
	case elemDouble:
		v, err = ort.NewEmptyScalar[float64]()
	case elemInt8:
		v, err = ort.NewEmptyScalar[int8]()
	case elemInt16:
		v, err = ort.NewEmptyScalar[int16]()
	case elemInt32:
		v, err = ort.NewEmptyScalar[int32]()
	case elemInt64:
		v, err = ort.NewEmptyScalar[int64]()
	case elemUint8:
		v, err = ort.NewEmptyScalar[uint8]()
	case elemUint16:
		v, err = ort.NewEmptyScalar[uint16]()
	case elemUint32:
		v, err = ort.NewEmptyScalar[uint32]()
	case elemUint64:
		v, err = ort.NewEmptyScalar[uint64]()
	case elemBool:
		v, err = ort.NewEmptyScalar[bool]()
	}
	if err != nil {
		return nil
	}
	return v
}

// convertOutput turns what ONNX Runtime returned for output s into a
// response tensor.
func convertOutput(s *ioSpec, v ort.Value) (inference.Tensor, error) {
	if v == nil {
		return inference.Tensor{}, fmt.Errorf("onnx: output %q: ONNX Runtime returned nothing", s.name)
	}
	if seq, ok := v.(*ort.Sequence); ok {
		return sequenceOfMaps(s, seq)
	}
	if v.GetONNXType() != ort.ONNXTypeTensor {
		return inference.Tensor{}, fmt.Errorf("onnx: output %q is a %v; Sluice returns tensors and sequences of maps only", s.name, v.GetONNXType())
	}
	et := elemType(v.DataType())
	data, err := valueData(v)
	if err != nil {
		return inference.Tensor{}, fmt.Errorf("onnx: output %q: %w", s.name, err)
	}
	shape := []int64(v.GetShape())
	if shape == nil {
		shape = []int64{} // a scalar
	}
	return outputTensor(s.reqName, et, shape, data)
}

// valueData returns a tensor's elements as the slice outputTensor takes.
func valueData(v ort.Value) (any, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return t.GetData(), nil
	case *ort.Tensor[float64]:
		return t.GetData(), nil
	case *ort.Tensor[int8]:
		return t.GetData(), nil
	case *ort.Tensor[int16]:
		return t.GetData(), nil
	case *ort.Tensor[int32]:
		return t.GetData(), nil
	case *ort.Tensor[int64]:
		return t.GetData(), nil
	case *ort.Tensor[uint8]:
		return t.GetData(), nil
	case *ort.Tensor[uint16]:
		return t.GetData(), nil
	case *ort.Tensor[uint32]:
		return t.GetData(), nil
	case *ort.Tensor[uint64]:
		return t.GetData(), nil
	case *ort.Tensor[bool]:
		return t.GetData(), nil
	case *ort.Scalar[float32]:
		return []float32{t.GetData()}, nil
	case *ort.Scalar[float64]:
		return []float64{t.GetData()}, nil
	case *ort.Scalar[int8]:
		return []int8{t.GetData()}, nil
	case *ort.Scalar[int16]:
		return []int16{t.GetData()}, nil
	case *ort.Scalar[int32]:
		return []int32{t.GetData()}, nil
	case *ort.Scalar[int64]:
		return []int64{t.GetData()}, nil
	case *ort.Scalar[uint8]:
		return []uint8{t.GetData()}, nil
	case *ort.Scalar[uint16]:
		return []uint16{t.GetData()}, nil
	case *ort.Scalar[uint32]:
		return []uint32{t.GetData()}, nil
	case *ort.Scalar[uint64]:
		return []uint64{t.GetData()}, nil
	case *ort.Scalar[bool]:
		return []bool{t.GetData()}, nil
	case *ort.StringTensor:
		return t.GetContents()
	case *ort.CustomDataTensor:
		et := elemType(t.DataType())
		if et != elemFloat16 && et != elemBFloat16 {
			return nil, fmt.Errorf("element type %s is not supported", et)
		}
		b := t.GetData()
		d := make([]uint16, len(b)/2)
		for i := range d {
			d[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		return d, nil
	}
	return nil, fmt.Errorf("unexpected ONNX Runtime value %T", v)
}

// sequenceOfMaps turns ZipMap's output, one map from class to probability
// per row, into an [N, classes] tensor. Columns follow the ZipMap node's
// class labels when the graph has them, else the first map's key order
// (ONNX Runtime's maps are ordered by key).
func sequenceOfMaps(s *ioSpec, seq *ort.Sequence) (inference.Tensor, error) {
	fail := func(format string, args ...any) (inference.Tensor, error) {
		return inference.Tensor{}, fmt.Errorf("onnx: output %q: "+format, append([]any{s.name}, args...)...)
	}
	rows, err := seq.GetValues()
	if err != nil {
		return fail("%v", err)
	}
	cols := map[string]int{}
	for j, l := range s.labels {
		cols[l] = j
	}
	k := len(s.labels)
	var f32 []float32
	var f64 []float64
	for r, v := range rows {
		m, ok := v.(*ort.Map)
		if !ok {
			return fail("element %d is a %v, not a map", r, v.GetONNXType())
		}
		kv, vv, err := m.GetKeysAndValues()
		if err != nil {
			return fail("row %d: %v", r, err)
		}
		keys, err := mapKeys(kv)
		if err != nil {
			return fail("row %d keys: %v", r, err)
		}
		if r == 0 && s.labels == nil {
			for j, key := range keys {
				cols[key] = j
			}
			k = len(keys)
		}
		if len(keys) != k {
			return fail("row %d has %d classes, want %d", r, len(keys), k)
		}
		if r == 0 {
			if s.elem == elemDouble {
				f64 = make([]float64, len(rows)*k)
			} else {
				f32 = make([]float32, len(rows)*k)
			}
		}
		vals, err := valueData(vv)
		if err != nil {
			return fail("row %d values: %v", r, err)
		}
		for i, key := range keys {
			j, ok := cols[key]
			if !ok {
				return fail("row %d has class %q, which is not among the labels", r, key)
			}
			switch d := vals.(type) {
			case []float32:
				if f32 == nil {
					return fail("row %d: FLOAT values, want DOUBLE", r)
				}
				f32[r*k+j] = d[i]
			case []float64:
				if f64 == nil {
					return fail("row %d: DOUBLE values, want FLOAT", r)
				}
				f64[r*k+j] = d[i]
			default:
				return fail("row %d: values are %T, want floats", r, vals)
			}
		}
	}
	shape := []int64{int64(len(rows)), int64(k)}
	if s.elem == elemDouble {
		if f64 == nil {
			f64 = []float64{}
		}
		return inference.Tensor{Name: s.reqName, Datatype: inference.FP64, Shape: shape, F64: f64}, nil
	}
	if f32 == nil {
		f32 = []float32{}
	}
	return inference.Tensor{Name: s.reqName, Datatype: inference.FP32, Shape: shape, F32: f32}, nil
}

// mapKeys returns a map's keys as strings (INT64 keys in decimal).
func mapKeys(v ort.Value) ([]string, error) {
	switch t := v.(type) {
	case *ort.Tensor[int64]:
		d := t.GetData()
		keys := make([]string, len(d))
		for i, x := range d {
			keys[i] = strconv.FormatInt(x, 10)
		}
		return keys, nil
	case *ort.StringTensor:
		return t.GetContents()
	}
	return nil, fmt.Errorf("keys are %T, want INT64 or STRING", v)
}
