package onnx

import (
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

// elemType is an ONNX tensor element type, numbered as in onnx.proto's
// TensorProto.DataType and ONNX Runtime's ONNXTensorElementDataType.
type elemType int32

const (
	elemUndefined  elemType = 0
	elemFloat      elemType = 1
	elemUint8      elemType = 2
	elemInt8       elemType = 3
	elemUint16     elemType = 4
	elemInt16      elemType = 5
	elemInt32      elemType = 6
	elemInt64      elemType = 7
	elemString     elemType = 8
	elemBool       elemType = 9
	elemFloat16    elemType = 10
	elemDouble     elemType = 11
	elemUint32     elemType = 12
	elemUint64     elemType = 13
	elemComplex64  elemType = 14
	elemComplex128 elemType = 15
	elemBFloat16   elemType = 16
)

var elemNames = map[elemType]string{
	elemUndefined: "UNDEFINED", elemFloat: "FLOAT", elemUint8: "UINT8", elemInt8: "INT8",
	elemUint16: "UINT16", elemInt16: "INT16", elemInt32: "INT32", elemInt64: "INT64",
	elemString: "STRING", elemBool: "BOOL", elemFloat16: "FLOAT16", elemDouble: "DOUBLE",
	elemUint32: "UINT32", elemUint64: "UINT64", elemComplex64: "COMPLEX64",
	elemComplex128: "COMPLEX128", elemBFloat16: "BFLOAT16",
	17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ",
	21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
}

// String returns the ONNX name of the type (FLOAT, INT64, ...).
func (e elemType) String() string {
	if n, ok := elemNames[e]; ok {
		return n
	}
	return "element type " + strconv.Itoa(int(e))
}

// datatype returns the Open Inference Protocol datatype Sluice shows for
// an ONNX element type, and false for types it cannot exchange (complex,
// 8- and 4-bit floats and ints). BFLOAT16 has no OIP datatype: it is shown
// as FP32 and converted both ways.
func (e elemType) datatype() (inference.Datatype, bool) {
	switch e {
	case elemFloat, elemBFloat16:
		return inference.FP32, true
	case elemDouble:
		return inference.FP64, true
	case elemFloat16:
		return inference.FP16, true
	case elemInt8:
		return inference.INT8, true
	case elemInt16:
		return inference.INT16, true
	case elemInt32:
		return inference.INT32, true
	case elemInt64:
		return inference.INT64, true
	case elemUint8:
		return inference.UINT8, true
	case elemUint16:
		return inference.UINT16, true
	case elemUint32:
		return inference.UINT32, true
	case elemUint64:
		return inference.UINT64, true
	case elemBool:
		return inference.BOOL, true
	case elemString:
		return inference.BYTES, true
	}
	return "", false
}

// isFloat reports whether e is a floating-point type.
func (e elemType) isFloat() bool {
	return e == elemFloat || e == elemDouble || e == elemFloat16 || e == elemBFloat16
}

// intBounds returns the range of an integer element type: lo is the
// minimum, hi the maximum.
func (e elemType) intBounds() (lo int64, hi uint64) {
	switch e {
	case elemInt8:
		return -1 << 7, 1<<7 - 1
	case elemInt16:
		return -1 << 15, 1<<15 - 1
	case elemInt32:
		return -1 << 31, 1<<31 - 1
	case elemInt64:
		return -1 << 63, 1<<63 - 1
	case elemUint8:
		return 0, 1<<8 - 1
	case elemUint16:
		return 0, 1<<16 - 1
	case elemUint32:
		return 0, 1<<32 - 1
	}
	return 0, 1<<64 - 1 // elemUint64
}
