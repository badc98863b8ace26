package onnx

import "errors"

// A tiny reader for the protobuf wire format, enough to recognise an ONNX
// ModelProto and to read the few graph fields ONNX Runtime's C API does not
// expose (sequence and map output types, ZipMap class labels, whether an
// output declares a shape). It avoids a protobuf dependency and generated
// code for onnx.proto.

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var errWire = errors.New("malformed protobuf")

// wireReader walks the fields of one protobuf message.
type wireReader struct {
	b   []byte
	off int
}

// varint reads a base-128 varint.
func (r *wireReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			return 0, errWire
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errWire
}

// field reads the next field's number and wire type. For wireBytes it also
// returns the payload; for wireVarint the value in v; fixed-width payloads
// are skipped (ONNX's graph structure does not use them where we read).
// ok is false at the end of the message.
func (r *wireReader) field() (num int, typ int, v uint64, payload []byte, ok bool, err error) {
	if r.off >= len(r.b) {
		return 0, 0, 0, nil, false, nil
	}
	tag, err := r.varint()
	if err != nil {
		return 0, 0, 0, nil, false, err
	}
	num, typ = int(tag>>3), int(tag&7)
	if num == 0 || tag>>3 > 1<<29 {
		return 0, 0, 0, nil, false, errWire
	}
	switch typ {
	case wireVarint:
		v, err = r.varint()
	case wireFixed64:
		err = r.skip(8)
	case wireFixed32:
		err = r.skip(4)
	case wireBytes:
		var n uint64
		if n, err = r.varint(); err != nil {
			break
		}
		if n > uint64(len(r.b)-r.off) {
			return num, typ, n, nil, false, errWire
		}
		payload = r.b[r.off : r.off+int(n)]
		r.off += int(n)
	default:
		err = errWire // groups (3, 4) are not used by onnx.proto
	}
	if err != nil {
		return 0, 0, 0, nil, false, err
	}
	return num, typ, v, payload, true, nil
}

func (r *wireReader) skip(n int) error {
	if n > len(r.b)-r.off {
		return errWire
	}
	r.off += n
	return nil
}

// packedVarints decodes a packed repeated varint field's payload.
func packedVarints(b []byte) ([]uint64, error) {
	r := wireReader{b: b}
	var out []uint64
	for r.off < len(r.b) {
		v, err := r.varint()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
