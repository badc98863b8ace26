package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sluicehq/sluice/internal/inference"
)

// TensorProto field numbers (onnx.proto).
const (
	tpDims       = 1
	tpDataType   = 2
	tpFloatData  = 4
	tpInt32Data  = 5
	tpStringData = 6
	tpInt64Data  = 7
	tpName       = 8
	tpRawData    = 9
	tpDoubleData = 10
	tpUint64Data = 11
)

// decodeTensorProto decodes the serialized TensorProto of an ONNX backend
// test case (input_0.pb, output_0.pb) into a request tensor. It reads the
// fields the test data uses: dims, data_type, name, raw_data and the typed
// *_data fields, packed or not. FP16 and BFLOAT16 become F32 values.
func decodeTensorProto(b []byte) (inference.Tensor, error) {
	var (
		t       inference.Tensor
		et      elemType
		raw     []byte
		floats  []float32
		doubles []float64
		ints    []int64 // int32_data, int64_data
		uints   []uint64
		strs    [][]byte
		hasRaw  bool
	)
	r := wireReader{b: b}
	for r.off < len(r.b) {
		tag, err := r.varint()
		if err != nil {
			return t, err
		}
		num, typ := int(tag>>3), int(tag&7)
		var v uint64
		var payload []byte
		switch typ {
		case wireVarint:
			if v, err = r.varint(); err != nil {
				return t, err
			}
		case wireFixed32:
			if r.off+4 > len(r.b) {
				return t, errWire
			}
			v = uint64(binary.LittleEndian.Uint32(r.b[r.off:]))
			r.off += 4
		case wireFixed64:
			if r.off+8 > len(r.b) {
				return t, errWire
			}
			v = binary.LittleEndian.Uint64(r.b[r.off:])
			r.off += 8
		case wireBytes:
			n, err := r.varint()
			if err != nil || n > uint64(len(r.b)-r.off) {
				return t, errWire
			}
			payload = r.b[r.off : r.off+int(n)]
			r.off += int(n)
		default:
			return t, fmt.Errorf("wire type %d", typ)
		}
		varints := func() ([]uint64, error) {
			if typ == wireBytes {
				return packedVarints(payload)
			}
			return []uint64{v}, nil
		}
		switch num {
		case tpDims:
			vs, err := varints()
			if err != nil {
				return t, err
			}
			for _, d := range vs {
				t.Shape = append(t.Shape, int64(d))
			}
		case tpDataType:
			et = elemType(v)
		case tpName:
			t.Name = string(payload)
		case tpRawData:
			raw, hasRaw = payload, true
		case tpStringData:
			strs = append(strs, payload)
		case tpInt32Data, tpInt64Data:
			vs, err := varints()
			if err != nil {
				return t, err
			}
			for _, x := range vs {
				if num == tpInt32Data {
					ints = append(ints, int64(int32(x)))
				} else {
					ints = append(ints, int64(x))
				}
			}
		case tpUint64Data:
			vs, err := varints()
			if err != nil {
				return t, err
			}
			uints = append(uints, vs...)
		case tpFloatData:
			if typ == wireBytes {
				for i := 0; i+4 <= len(payload); i += 4 {
					floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(payload[i:])))
				}
			} else {
				floats = append(floats, math.Float32frombits(uint32(v)))
			}
		case tpDoubleData:
			if typ == wireBytes {
				for i := 0; i+8 <= len(payload); i += 8 {
					doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(payload[i:])))
				}
			} else {
				doubles = append(doubles, math.Float64frombits(v))
			}
		}
	}
	if t.Shape == nil {
		t.Shape = []int64{}
	}
	dt, ok := et.datatype()
	if !ok {
		return t, fmt.Errorf("tensor %q: element type %s", t.Name, et)
	}
	t.Datatype = dt
	n, err := inference.NumElements(t.Shape)
	if err != nil {
		return t, err
	}
	if hasRaw {
		size := map[elemType]int{elemFloat: 4, elemDouble: 8, elemFloat16: 2, elemBFloat16: 2, elemInt8: 1, elemUint8: 1,
			elemInt16: 2, elemUint16: 2, elemInt32: 4, elemUint32: 4, elemInt64: 8, elemUint64: 8, elemBool: 1}[et]
		if size == 0 || len(raw) != n*size {
			return t, fmt.Errorf("tensor %q: %d raw bytes for %d elements of %s", t.Name, len(raw), n, et)
		}
		for i := 0; i < n; i++ {
			p := raw[i*size:]
			switch et {
			case elemFloat:
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(p)))
			case elemDouble:
				doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(p)))
			case elemFloat16, elemBFloat16, elemUint16:
				ints = append(ints, int64(binary.LittleEndian.Uint16(p)))
			case elemInt16:
				ints = append(ints, int64(int16(binary.LittleEndian.Uint16(p))))
			case elemInt8:
				ints = append(ints, int64(int8(p[0])))
			case elemUint8, elemBool:
				ints = append(ints, int64(p[0]))
			case elemInt32:
				ints = append(ints, int64(int32(binary.LittleEndian.Uint32(p))))
			case elemUint32:
				ints = append(ints, int64(binary.LittleEndian.Uint32(p)))
			case elemInt64:
				ints = append(ints, int64(binary.LittleEndian.Uint64(p)))
			case elemUint64:
				uints = append(uints, binary.LittleEndian.Uint64(p))
			}
		}
	}
	switch et {
	case elemFloat:
		t.F32 = floats
	case elemDouble:
		t.F64 = doubles
	case elemFloat16, elemBFloat16:
		for _, h := range ints {
			if et == elemFloat16 {
				t.F32 = append(t.F32, halfToFloat32(uint16(h)))
			} else {
				t.F32 = append(t.F32, bfloat16ToFloat32(uint16(h)))
			}
		}
	case elemBool:
		for _, x := range ints {
			t.Bool = append(t.Bool, x != 0)
		}
	case elemString:
		t.Bytes = strs
	case elemUint64:
		t.U64 = uints
	default:
		t.I64 = ints
	}
	if t.Len() != n {
		return t, fmt.Errorf("tensor %q: %d elements for shape %v", t.Name, t.Len(), t.Shape)
	}
	return t, nil
}
