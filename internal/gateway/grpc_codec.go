package gateway

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/oip/oippb"
)

// This file converts between the gRPC messages of the Open Inference
// Protocol and the gateway's tensors. The request ends up as the same
// *oip.InferRequest the REST decoder produces, checked the same way (names,
// datatypes, shapes, element limit, value ranges), so routing, signature
// checks and prediction are shared. Errors are *inference.InputError
// naming the protobuf field at fault, like "inputs[1].contents.fp32_contents"
// or "raw_input_contents[0]".
//
// Raw data is little-endian, row-major and unpadded, as the protocol says.
// BYTES elements in raw form are each a 4-byte little-endian length and
// then the bytes, as Triton and its clients lay them out. BOOL is one byte
// per element, 0 or 1. FP16 has no typed field and travels raw only.

// maxGRPCDims bounds the number of dimensions of a tensor, as in REST.
const maxGRPCDims = 64

// decodeGRPCRequest checks a ModelInferRequest and converts it into the
// form REST requests decode to. The tensors may alias m's buffers.
func decodeGRPCRequest(m *oippb.ModelInferRequest, lim oip.Limits) (*oip.InferRequest, error) {
	ins := m.GetInputs()
	if len(ins) == 0 {
		return nil, inference.Inputf("inputs", "at least one input is required")
	}
	raw := m.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(ins) {
		return nil, inference.Inputf("raw_input_contents", "has %d entries for %d inputs; send one entry per input, in the order of inputs", len(raw), len(ins))
	}
	limit := lim.MaxElements
	if limit <= 0 {
		limit = oip.DefaultMaxElements
	}
	req := &oip.InferRequest{
		ID:         m.GetId(),
		Parameters: oip.ParamsOf(grpcParams(m.GetParameters())),
		Inputs:     make([]inference.Tensor, len(ins)),
	}
	total := 0
	for i, in := range ins {
		field := "inputs[" + strconv.Itoa(i) + "]"
		t := &req.Inputs[i]
		if t.Name = in.GetName(); t.Name == "" {
			return nil, inference.Inputf(field+".name", "must not be empty")
		}
		dt, err := inference.ParseDatatype(in.GetDatatype())
		if err != nil {
			return nil, inference.Inputf(field+".datatype", "%s", err)
		}
		t.Datatype = dt
		t.Shape = in.GetShape()
		if len(t.Shape) > maxGRPCDims {
			return nil, inference.Inputf(field+".shape", "has more than %d dimensions", maxGRPCDims)
		}
		for k, d := range t.Shape {
			if d < 0 {
				return nil, inference.Inputf(fmt.Sprintf("%s.shape[%d]", field, k), "is %d; dimensions must be 0 or more (-1 only appears in model metadata)", d)
			}
		}
		n, err := inference.NumElements(t.Shape)
		if err != nil || n > limit-total {
			return nil, inference.Inputf(field+".shape", "%v has too many elements: a request may hold at most %d", t.Shape, limit)
		}
		total += n
		if len(raw) > 0 {
			if in.GetContents() != nil {
				return nil, inference.Inputf(field+".contents", "must not be set when the request carries raw_input_contents: send every input one way or the other")
			}
			err = decodeRaw(t, n, raw[i], i)
		} else {
			err = decodeContents(t, n, in.GetContents(), field)
		}
		if err != nil {
			return nil, err
		}
		if p := grpcParams(in.GetParameters()); p != nil {
			if _, ok := p["shared_memory_region"]; ok {
				return nil, inference.Inputf(field+".parameters.shared_memory_region", "the shared-memory extension is not supported; send tensors in the request")
			}
			if req.InputParameters == nil {
				req.InputParameters = make([]map[string]any, len(ins))
			}
			req.InputParameters[i] = p
		}
	}
	if i, j, dup := duplicateName(len(req.Inputs), func(i int) string { return req.Inputs[i].Name }); dup {
		return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "duplicate input name %q (also inputs[%d])", req.Inputs[i].Name, j)
	}
	for i, o := range m.GetOutputs() {
		if o.GetName() == "" {
			return nil, inference.Inputf(fmt.Sprintf("outputs[%d].name", i), "must not be empty")
		}
		out := oip.RequestedOutput{Name: o.GetName(), Parameters: grpcParams(o.GetParameters())}
		if _, ok := out.Parameters["shared_memory_region"]; ok {
			return nil, inference.Inputf(fmt.Sprintf("outputs[%d].parameters.shared_memory_region", i), "the shared-memory extension is not supported")
		}
		req.Outputs = append(req.Outputs, out)
	}
	if i, j, dup := duplicateName(len(req.Outputs), func(i int) string { return req.Outputs[i].Name }); dup {
		return nil, inference.Inputf(fmt.Sprintf("outputs[%d].name", i), "duplicate output name %q (also outputs[%d])", req.Outputs[i].Name, j)
	}
	return req, nil
}

// duplicateName returns the first index whose name appeared before, at j.
func duplicateName(n int, name func(int) string) (i, j int, dup bool) {
	if n <= 16 {
		for i := 1; i < n; i++ {
			for j := 0; j < i; j++ {
				if name(i) == name(j) {
					return i, j, true
				}
			}
		}
		return 0, 0, false
	}
	first := make(map[string]int, n)
	for i := 0; i < n; i++ {
		if j, ok := first[name(i)]; ok {
			return i, j, true
		}
		first[name(i)] = i
	}
	return 0, 0, false
}

// grpcParams converts parameters to the values REST decodes JSON
// parameters to: bool, string, int64 for integers that fit and float64
// otherwise; nil for a parameter with no value.
func grpcParams(ps map[string]*oippb.InferParameter) map[string]any {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]any, len(ps))
	for k, p := range ps {
		switch v := p.GetParameterChoice().(type) {
		case *oippb.InferParameter_BoolParam:
			m[k] = v.BoolParam
		case *oippb.InferParameter_Int64Param:
			m[k] = v.Int64Param
		case *oippb.InferParameter_StringParam:
			m[k] = v.StringParam
		case *oippb.InferParameter_DoubleParam:
			m[k] = v.DoubleParam
		case *oippb.InferParameter_Uint64Param:
			if v.Uint64Param <= math.MaxInt64 {
				m[k] = int64(v.Uint64Param)
			} else {
				m[k] = float64(v.Uint64Param)
			}
		default:
			m[k] = nil
		}
	}
	return m
}

// wantRawOutput reports whether the response should carry
// raw_output_contents; see ParamBinaryDataOutput.
func wantRawOutput(m *oippb.ModelInferRequest, req *oip.InferRequest) (bool, error) {
	if v, ok := req.Parameters.Lookup(ParamBinaryDataOutput); ok {
		b, isBool := v.(bool)
		if !isBool {
			return false, inference.Inputf("parameters."+ParamBinaryDataOutput, "must be a bool_param, not %T", v)
		}
		return b, nil
	}
	return len(m.GetRawInputContents()) > 0, nil
}

// typedField names the InferTensorContents field for a datatype; FP16 has
// none.
func typedField(dt inference.Datatype) string {
	switch dt {
	case inference.BOOL:
		return "bool_contents"
	case inference.INT8, inference.INT16, inference.INT32:
		return "int_contents"
	case inference.INT64:
		return "int64_contents"
	case inference.UINT8, inference.UINT16, inference.UINT32:
		return "uint_contents"
	case inference.UINT64:
		return "uint64_contents"
	case inference.FP32:
		return "fp32_contents"
	case inference.FP64:
		return "fp64_contents"
	case inference.BYTES:
		return "bytes_contents"
	}
	return ""
}

// decodeContents reads t's n elements from the typed field of c that
// matches t's datatype. Every other field must be empty. FP32, FP64,
// INT64, UINT64, BOOL and BYTES data are used without copying.
func decodeContents(t *inference.Tensor, n int, c *oippb.InferTensorContents, field string) error {
	want := typedField(t.Datatype)
	if want == "" {
		return inference.Inputf(field+".contents", "%s has no typed contents field; send %s tensors in raw_input_contents (2 little-endian bytes per element)", t.Datatype, t.Datatype)
	}
	fields := [...]struct {
		name string
		n    int
	}{
		{"bool_contents", len(c.GetBoolContents())},
		{"int_contents", len(c.GetIntContents())},
		{"int64_contents", len(c.GetInt64Contents())},
		{"uint_contents", len(c.GetUintContents())},
		{"uint64_contents", len(c.GetUint64Contents())},
		{"fp32_contents", len(c.GetFp32Contents())},
		{"fp64_contents", len(c.GetFp64Contents())},
		{"bytes_contents", len(c.GetBytesContents())},
	}
	got := 0
	for _, f := range fields {
		switch {
		case f.name == want:
			got = f.n
		case f.n > 0:
			return inference.Inputf(field+".contents."+f.name, "must be empty: %s elements go in contents.%s", t.Datatype, want)
		}
	}
	if got != n {
		if got == 0 {
			return inference.Inputf(field+".contents", "has no data: shape %v needs %d %s elements in contents.%s (or send raw_input_contents)", t.Shape, n, t.Datatype, want)
		}
		return inference.Inputf(field+".contents."+want, "has %d elements but shape %v needs %d", got, t.Shape, n)
	}
	switch t.Datatype {
	case inference.BOOL:
		t.Bool = c.GetBoolContents()
	case inference.INT64:
		t.I64 = c.GetInt64Contents()
	case inference.UINT64:
		t.U64 = c.GetUint64Contents()
	case inference.FP32:
		t.F32 = c.GetFp32Contents()
	case inference.FP64:
		t.F64 = c.GetFp64Contents()
	case inference.BYTES:
		t.Bytes = c.GetBytesContents()
	case inference.INT8, inference.INT16, inference.INT32:
		lo, hi := intBounds(t.Datatype)
		t.I64 = make([]int64, n)
		for k, v := range c.GetIntContents() {
			if int64(v) < lo || int64(v) > hi {
				return inference.Inputf(fmt.Sprintf("%s.contents.int_contents[%d]", field, k), "%d is out of range for %s (%d..%d)", v, t.Datatype, lo, hi)
			}
			t.I64[k] = int64(v)
		}
	case inference.UINT8, inference.UINT16, inference.UINT32:
		_, hi := intBounds(t.Datatype)
		t.I64 = make([]int64, n)
		for k, v := range c.GetUintContents() {
			if int64(v) > hi {
				return inference.Inputf(fmt.Sprintf("%s.contents.uint_contents[%d]", field, k), "%d is out of range for %s (0..%d)", v, t.Datatype, hi)
			}
			t.I64[k] = int64(v)
		}
	}
	if t.Len() == 0 {
		setEmpty(t) // a zero-element tensor still gets a non-nil slice
	}
	return nil
}

// intBounds returns the range of an integer datatype held in I64.
func intBounds(dt inference.Datatype) (lo, hi int64) {
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

// setEmpty gives t an empty, non-nil data slice for its datatype.
func setEmpty(t *inference.Tensor) {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		t.F32 = []float32{}
	case inference.FP64:
		t.F64 = []float64{}
	case inference.UINT64:
		t.U64 = []uint64{}
	case inference.BOOL:
		t.Bool = []bool{}
	case inference.BYTES:
		t.Bytes = [][]byte{}
	default:
		t.I64 = []int64{}
	}
}

// elemSize is the raw size of one element in bytes; 0 for BYTES, whose
// elements vary.
func elemSize(dt inference.Datatype) int {
	switch dt {
	case inference.BOOL, inference.INT8, inference.UINT8:
		return 1
	case inference.INT16, inference.UINT16, inference.FP16:
		return 2
	case inference.INT32, inference.UINT32, inference.FP32:
		return 4
	case inference.INT64, inference.UINT64, inference.FP64:
		return 8
	}
	return 0
}

// decodeRaw reads t's n elements from b, raw_input_contents[i].
func decodeRaw(t *inference.Tensor, n int, b []byte, i int) error {
	field := "raw_input_contents[" + strconv.Itoa(i) + "]"
	if t.Datatype == inference.BYTES {
		return decodeRawBytes(t, n, b, field)
	}
	size := elemSize(t.Datatype)
	if len(b) != n*size {
		return inference.Inputf(field, "input %q: has %d bytes, want %d: shape %v holds %d %s elements of %d bytes", t.Name, len(b), n*size, t.Shape, n, t.Datatype, size)
	}
	le := binary.LittleEndian
	switch t.Datatype {
	case inference.FP32:
		t.F32 = make([]float32, n)
		for k := range t.F32 {
			t.F32[k] = math.Float32frombits(le.Uint32(b[4*k:]))
		}
	case inference.FP16:
		t.F32 = make([]float32, n)
		for k := range t.F32 {
			t.F32[k] = halfToFloat32(le.Uint16(b[2*k:]))
		}
	case inference.FP64:
		t.F64 = make([]float64, n)
		for k := range t.F64 {
			t.F64[k] = math.Float64frombits(le.Uint64(b[8*k:]))
		}
	case inference.UINT64:
		t.U64 = make([]uint64, n)
		for k := range t.U64 {
			t.U64[k] = le.Uint64(b[8*k:])
		}
	case inference.BOOL:
		t.Bool = make([]bool, n)
		for k, v := range b {
			if v > 1 {
				return inference.Inputf(field, "input %q: byte %d is %d; BOOL elements are 0 or 1", t.Name, k, v)
			}
			t.Bool[k] = v == 1
		}
	default:
		t.I64 = make([]int64, n)
		for k := range t.I64 {
			switch t.Datatype {
			case inference.INT8:
				t.I64[k] = int64(int8(b[k]))
			case inference.UINT8:
				t.I64[k] = int64(b[k])
			case inference.INT16:
				t.I64[k] = int64(int16(le.Uint16(b[2*k:])))
			case inference.UINT16:
				t.I64[k] = int64(le.Uint16(b[2*k:]))
			case inference.INT32:
				t.I64[k] = int64(int32(le.Uint32(b[4*k:])))
			case inference.UINT32:
				t.I64[k] = int64(le.Uint32(b[4*k:]))
			case inference.INT64:
				t.I64[k] = int64(le.Uint64(b[8*k:]))
			}
		}
	}
	return nil
}

// decodeRawBytes reads n length-prefixed BYTES elements that must fill b
// exactly. The elements alias b.
func decodeRawBytes(t *inference.Tensor, n int, b []byte, field string) error {
	t.Bytes = make([][]byte, 0, min(n, len(b)/4))
	off := 0
	for off < len(b) {
		k := len(t.Bytes)
		if k == n {
			return inference.Inputf(field, "input %q: %d bytes left after the %d elements shape %v holds", t.Name, len(b)-off, n, t.Shape)
		}
		if len(b)-off < 4 {
			return inference.Inputf(field, "input %q: element %d: %d bytes left, too few for the 4-byte length", t.Name, k, len(b)-off)
		}
		l := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if uint64(l) > uint64(len(b)-off) {
			return inference.Inputf(field, "input %q: element %d: length %d runs past the end (%d bytes left)", t.Name, k, l, len(b)-off)
		}
		end := off + int(l)
		t.Bytes = append(t.Bytes, b[off:end:end])
		off = end
	}
	if len(t.Bytes) != n {
		return inference.Inputf(field, "input %q: holds %d BYTES elements but shape %v needs %d (each element is a 4-byte little-endian length, then the bytes)", t.Name, len(t.Bytes), t.Shape, n)
	}
	return nil
}

// encodeGRPCResponse writes the outputs, typed or raw. FP16 has no typed
// field, so an FP16 output makes the whole response raw: the protocol does
// not allow mixing. An output whose data does not match its shape is an
// error, since the caller could not read it.
func encodeGRPCResponse(outputs []inference.Tensor, raw bool) (*oippb.ModelInferResponse, error) {
	size := 0
	for i := range outputs {
		t := &outputs[i]
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("output %q: %w", t.Name, err)
		}
		if t.Datatype == inference.FP16 {
			raw = true
		}
		size += rawSize(t)
	}
	resp := &oippb.ModelInferResponse{Outputs: make([]*oippb.ModelInferResponse_InferOutputTensor, len(outputs))}
	ts := make([]oippb.ModelInferResponse_InferOutputTensor, len(outputs))
	var buf []byte
	if raw {
		resp.RawOutputContents = make([][]byte, len(outputs))
		buf = make([]byte, 0, size)
	}
	for i := range outputs {
		t := &outputs[i]
		o := &ts[i]
		o.Name, o.Datatype, o.Shape = t.Name, string(t.Datatype), t.Shape
		if o.Shape == nil {
			o.Shape = []int64{}
		}
		if raw {
			start := len(buf)
			buf = appendRaw(buf, t)
			resp.RawOutputContents[i] = buf[start:len(buf):len(buf)]
		} else {
			o.Contents = typedContents(t)
		}
		resp.Outputs[i] = o
	}
	return resp, nil
}

// rawSize is the size of t in raw form.
func rawSize(t *inference.Tensor) int {
	if t.Datatype != inference.BYTES {
		return t.Len() * elemSize(t.Datatype)
	}
	n := 0
	for _, b := range t.Bytes {
		n += 4 + len(b)
	}
	return n
}

// typedContents returns t's elements in the field for its datatype, which
// must not be FP16. Slices of the matching type are shared, not copied.
func typedContents(t *inference.Tensor) *oippb.InferTensorContents {
	c := &oippb.InferTensorContents{}
	switch t.Datatype {
	case inference.BOOL:
		c.BoolContents = t.Bool
	case inference.INT64:
		c.Int64Contents = t.I64
	case inference.UINT64:
		c.Uint64Contents = t.U64
	case inference.FP32:
		c.Fp32Contents = t.F32
	case inference.FP64:
		c.Fp64Contents = t.F64
	case inference.BYTES:
		c.BytesContents = t.Bytes
	case inference.INT8, inference.INT16, inference.INT32:
		c.IntContents = make([]int32, len(t.I64))
		for k, v := range t.I64 {
			c.IntContents[k] = int32(v)
		}
	case inference.UINT8, inference.UINT16, inference.UINT32:
		c.UintContents = make([]uint32, len(t.I64))
		for k, v := range t.I64 {
			c.UintContents[k] = uint32(v)
		}
	}
	return c
}

// appendRaw appends t's elements in raw form to dst.
func appendRaw(dst []byte, t *inference.Tensor) []byte {
	le := binary.LittleEndian
	switch t.Datatype {
	case inference.FP32:
		for _, v := range t.F32 {
			dst = le.AppendUint32(dst, math.Float32bits(v))
		}
	case inference.FP16:
		for _, v := range t.F32 {
			dst = le.AppendUint16(dst, float32ToHalf(v))
		}
	case inference.FP64:
		for _, v := range t.F64 {
			dst = le.AppendUint64(dst, math.Float64bits(v))
		}
	case inference.UINT64:
		for _, v := range t.U64 {
			dst = le.AppendUint64(dst, v)
		}
	case inference.BOOL:
		for _, v := range t.Bool {
			if v {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	case inference.BYTES:
		for _, v := range t.Bytes {
			dst = le.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
		}
	case inference.INT8, inference.UINT8:
		for _, v := range t.I64 {
			dst = append(dst, byte(v))
		}
	case inference.INT16, inference.UINT16:
		for _, v := range t.I64 {
			dst = le.AppendUint16(dst, uint16(v))
		}
	case inference.INT32, inference.UINT32:
		for _, v := range t.I64 {
			dst = le.AppendUint32(dst, uint32(v))
		}
	case inference.INT64:
		for _, v := range t.I64 {
			dst = le.AppendUint64(dst, uint64(v))
		}
	}
	return dst
}

// halfToFloat32 converts an IEEE 754 half-precision value; every half is
// exactly representable as a float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // infinity or NaN, keeping the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0: // zero or subnormal: mant × 2^-24
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// float32ToHalf converts to the nearest half-precision value, ties to
// even; values beyond the half range become infinities.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13) // quiet NaN
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half: the value in units of 2^-24 is m × 2^(e-14).
		shift := uint32(14 - e)
		if shift > 24 {
			return sign
		}
		m := mant | 0x800000
		q, r, half := m>>shift, m&(1<<shift-1), uint32(1)<<(shift-1)
		if r > half || (r == half && q&1 == 1) {
			q++ // may carry into the smallest normal, which is right
		}
		return sign | uint16(q)
	}
	h := uint32(e)<<10 | mant>>13
	if r := mant & 0x1fff; r > 0x1000 || (r == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity, which is right
	}
	return sign | uint16(h)
}
