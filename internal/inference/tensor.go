package inference

import (
	"fmt"
	"math"
)

// Datatype is an Open Inference Protocol v2 tensor element type.
type Datatype string

// The datatypes of the Open Inference Protocol v2.
const (
	BOOL   Datatype = "BOOL"
	UINT8  Datatype = "UINT8"
	UINT16 Datatype = "UINT16"
	UINT32 Datatype = "UINT32"
	UINT64 Datatype = "UINT64"
	INT8   Datatype = "INT8"
	INT16  Datatype = "INT16"
	INT32  Datatype = "INT32"
	INT64  Datatype = "INT64"
	FP16   Datatype = "FP16"
	FP32   Datatype = "FP32"
	FP64   Datatype = "FP64"
	BYTES  Datatype = "BYTES"
)

// ParseDatatype returns the Datatype named s, or an error for an unknown name.
func ParseDatatype(s string) (Datatype, error) {
	switch d := Datatype(s); d {
	case BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES:
		return d, nil
	}
	return "", fmt.Errorf("unknown datatype %q (want one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES)", s)
}

// IsInteger reports whether d is a signed or unsigned integer type.
func (d Datatype) IsInteger() bool {
	switch d {
	case UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64:
		return true
	}
	return false
}

// IsNumeric reports whether d is an integer, floating point or boolean type,
// that is, one a tabular model can read as numbers.
func (d Datatype) IsNumeric() bool {
	return d.IsInteger() || d == FP16 || d == FP32 || d == FP64 || d == BOOL
}

// Tensor is a named, typed, shaped array in row-major order.
//
// Exactly one data slice holds the elements, chosen by Datatype: F32 for FP32
// and FP16, F64 for FP64, I64 for INT8..INT64 and UINT8..UINT32, U64 for
// UINT64, Bool for BOOL and Bytes for BYTES.
type Tensor struct {
	Name     string
	Datatype Datatype
	Shape    []int64

	F32   []float32
	F64   []float64
	I64   []int64
	U64   []uint64
	Bool  []bool
	Bytes [][]byte
}

// Len returns the number of elements held in the tensor's data slice.
func (t *Tensor) Len() int {
	switch t.Datatype {
	case FP32, FP16:
		return len(t.F32)
	case FP64:
		return len(t.F64)
	case UINT64:
		return len(t.U64)
	case BOOL:
		return len(t.Bool)
	case BYTES:
		return len(t.Bytes)
	default:
		return len(t.I64)
	}
}

// NumElements returns the product of the shape, or an error when a
// dimension is negative or the product overflows.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape[%d] is %d: dimensions must not be negative", i, d)
		}
		if d != 0 && n > math.MaxInt32/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return int(n), nil
}

// Validate checks that the datatype is known and that the shape matches the
// number of elements.
func (t *Tensor) Validate() error {
	if _, err := ParseDatatype(string(t.Datatype)); err != nil {
		return &InputError{Field: t.Name + ".datatype", Msg: err.Error()}
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return &InputError{Field: t.Name + ".shape", Msg: err.Error()}
	}
	if got := t.Len(); got != n {
		return &InputError{Field: t.Name + ".data", Msg: fmt.Sprintf("has %d elements but shape %v needs %d", got, t.Shape, n)}
	}
	return nil
}

// matrixShape interprets the tensor's shape as [rows, cols] for a tabular
// model expecting cols features: [rows, cols] or, for one row, [cols].
func (t *Tensor) matrixShape(cols int) (rows int, err error) {
	switch len(t.Shape) {
	case 1:
		if t.Shape[0] != int64(cols) {
			return 0, &InputError{Field: t.Name + ".shape", Msg: fmt.Sprintf("is %v, want [%d] or [N,%d]", t.Shape, cols, cols)}
		}
		return 1, nil
	case 2:
		if t.Shape[1] != int64(cols) {
			return 0, &InputError{Field: t.Name + ".shape", Msg: fmt.Sprintf("is %v, want [N,%d]: the model has %d features", t.Shape, cols, cols)}
		}
		if t.Shape[0] < 0 {
			return 0, &InputError{Field: t.Name + ".shape", Msg: "rows must not be negative"}
		}
		return int(t.Shape[0]), nil
	}
	return 0, &InputError{Field: t.Name + ".shape", Msg: fmt.Sprintf("is %v, want [N,%d]", t.Shape, cols)}
}

// Dense32 returns the tensor as a row-major [rows, cols] float32 matrix,
// converting numeric datatypes. FP32 data is returned without copying.
func Dense32(t *Tensor, cols int) (rows int, data []float32, err error) {
	if err := t.Validate(); err != nil {
		return 0, nil, err
	}
	if rows, err = t.matrixShape(cols); err != nil {
		return 0, nil, err
	}
	switch t.Datatype {
	case FP32, FP16:
		return rows, t.F32, nil
	case FP64:
		data = make([]float32, len(t.F64))
		for i, v := range t.F64 {
			data[i] = float32(v)
		}
	case UINT64:
		data = make([]float32, len(t.U64))
		for i, v := range t.U64 {
			data[i] = float32(v)
		}
	case BOOL:
		data = make([]float32, len(t.Bool))
		for i, v := range t.Bool {
			if v {
				data[i] = 1
			}
		}
	case BYTES:
		return 0, nil, &InputError{Field: t.Name + ".datatype", Msg: "BYTES cannot be read as numeric features"}
	default:
		data = make([]float32, len(t.I64))
		for i, v := range t.I64 {
			data[i] = float32(v)
		}
	}
	return rows, data, nil
}

// Dense64 returns the tensor as a row-major [rows, cols] float64 matrix,
// converting numeric datatypes. FP64 data is returned without copying.
func Dense64(t *Tensor, cols int) (rows int, data []float64, err error) {
	if err := t.Validate(); err != nil {
		return 0, nil, err
	}
	if rows, err = t.matrixShape(cols); err != nil {
		return 0, nil, err
	}
	switch t.Datatype {
	case FP64:
		return rows, t.F64, nil
	case FP32, FP16:
		data = make([]float64, len(t.F32))
		for i, v := range t.F32 {
			data[i] = float64(v)
		}
	case UINT64:
		data = make([]float64, len(t.U64))
		for i, v := range t.U64 {
			data[i] = float64(v)
		}
	case BOOL:
		data = make([]float64, len(t.Bool))
		for i, v := range t.Bool {
			if v {
				data[i] = 1
			}
		}
	case BYTES:
		return 0, nil, &InputError{Field: t.Name + ".datatype", Msg: "BYTES cannot be read as numeric features"}
	default:
		data = make([]float64, len(t.I64))
		for i, v := range t.I64 {
			data[i] = float64(v)
		}
	}
	return rows, data, nil
}
