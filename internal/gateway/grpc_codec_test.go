package gateway

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/oip/oippb"
)

// TestDecodeGRPCRequestMatchesREST checks that equivalent REST and gRPC
// requests decode to the same oip.InferRequest, parameters included.
func TestDecodeGRPCRequestMatchesREST(t *testing.T) {
	p := func(v any) *oippb.InferParameter {
		switch v := v.(type) {
		case bool:
			return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_BoolParam{BoolParam: v}}
		case int64:
			return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_Int64Param{Int64Param: v}}
		case uint64:
			return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_Uint64Param{Uint64Param: v}}
		case float64:
			return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_DoubleParam{DoubleParam: v}}
		case string:
			return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_StringParam{StringParam: v}}
		}
		return &oippb.InferParameter{}
	}
	body := `{"id":"r1","parameters":{"a":1,"b":"x","c":true,"d":1.5,"e":18446744073709551615,"f":null},
	"inputs":[
	 {"name":"b","datatype":"BOOL","shape":[2],"data":[true,false],"parameters":{"k":"v"}},
	 {"name":"i8","datatype":"INT8","shape":[1,2],"data":[-128,127]},
	 {"name":"u32","datatype":"UINT32","shape":[1],"data":[4294967295]},
	 {"name":"u64","datatype":"UINT64","shape":[1],"data":[18446744073709551615]},
	 {"name":"i64","datatype":"INT64","shape":[1],"data":[-9223372036854775808]},
	 {"name":"h","datatype":"FP16","shape":[2],"data":[1.5,-65504]},
	 {"name":"f","datatype":"FP32","shape":[1],"data":[0.1]},
	 {"name":"d","datatype":"FP64","shape":[1],"data":[0.1]},
	 {"name":"s","datatype":"BYTES","shape":[2],"data":["hi",""]},
	 {"name":"z","datatype":"FP32","shape":[0,3],"data":[]}],
	"outputs":[{"name":"o1","parameters":{"binary_data":true}},{"name":"o2"}]}`
	want, err := oip.DecodeInferRequest([]byte(body), oip.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	msg := &oippb.ModelInferRequest{
		ModelName: "m", Id: "r1",
		Parameters: map[string]*oippb.InferParameter{"a": p(int64(1)), "b": p("x"), "c": p(true), "d": p(1.5), "e": p(uint64(math.MaxUint64)), "f": p(nil)},
		Inputs: []*oippb.ModelInferRequest_InferInputTensor{
			{Name: "b", Datatype: "BOOL", Shape: []int64{2}, Parameters: map[string]*oippb.InferParameter{"k": p("v")}},
			{Name: "i8", Datatype: "INT8", Shape: []int64{1, 2}},
			{Name: "u32", Datatype: "UINT32", Shape: []int64{1}},
			{Name: "u64", Datatype: "UINT64", Shape: []int64{1}},
			{Name: "i64", Datatype: "INT64", Shape: []int64{1}},
			{Name: "h", Datatype: "FP16", Shape: []int64{2}},
			{Name: "f", Datatype: "FP32", Shape: []int64{1}},
			{Name: "d", Datatype: "FP64", Shape: []int64{1}},
			{Name: "s", Datatype: "BYTES", Shape: []int64{2}},
			{Name: "z", Datatype: "FP32", Shape: []int64{0, 3}},
		},
		Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "o1", Parameters: map[string]*oippb.InferParameter{"binary_data": p(true)}}, {Name: "o2"}},
	}
	le := binary.LittleEndian
	msg.RawInputContents = [][]byte{
		{1, 0},
		{0x80, 0x7f},
		le.AppendUint32(nil, math.MaxUint32),
		le.AppendUint64(nil, math.MaxUint64),
		le.AppendUint64(nil, 1<<63),
		{0x00, 0x3e, 0xff, 0xfb},
		le.AppendUint32(nil, math.Float32bits(0.1)),
		le.AppendUint64(nil, math.Float64bits(0.1)),
		{2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0},
		{},
	}
	got, err := decodeGRPCRequest(msg, oip.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("raw gRPC request decodes differently from REST (-rest +grpc):\n%s", diff)
	}
	// The same tensors typed, except FP16, which has no typed field.
	typed := []*oippb.InferTensorContents{
		{BoolContents: []bool{true, false}},
		{IntContents: []int32{-128, 127}},
		{UintContents: []uint32{math.MaxUint32}},
		{Uint64Contents: []uint64{math.MaxUint64}},
		{Int64Contents: []int64{math.MinInt64}},
		nil,
		{Fp32Contents: []float32{0.1}},
		{Fp64Contents: []float64{0.1}},
		{BytesContents: [][]byte{[]byte("hi"), {}}},
		{},
	}
	msg.RawInputContents = nil
	msg.Inputs = append(msg.Inputs[:5], msg.Inputs[6:]...)
	typed = append(typed[:5], typed[6:]...)
	for i := range msg.Inputs {
		msg.Inputs[i].Contents = typed[i]
	}
	want.Inputs = append(want.Inputs[:5], want.Inputs[6:]...)
	want.InputParameters = append(want.InputParameters[:5], want.InputParameters[6:]...)
	if got, err = decodeGRPCRequest(msg, oip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("typed gRPC request decodes differently from REST (-rest +grpc):\n%s", diff)
	}
}

func TestHalfFloat(t *testing.T) {
	for _, tc := range []struct {
		f float32
		h uint16
	}{
		{0, 0x0000}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {0.5, 0x3800},
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{1.0 / (1 << 24), 0x0001}, {1.0 / (1 << 14), 0x0400}, // smallest subnormal, smallest normal
		{0.1, 0x2e66}, {1.0 / 3, 0x3555}, {65520, 0x7c00}, {65519, 0x7bff}, // rounding, overflow
		{1.0 / (1 << 25), 0x0000}, {1.5 / (1 << 25), 0x0001}, // ties to even at the bottom
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, // ties to even
	} {
		if got := float32ToHalf(tc.f); got != tc.h {
			t.Errorf("float32ToHalf(%v) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	for h := 0; h <= 0xffff; h++ {
		f := halfToFloat32(uint16(h))
		if f != f {
			if back := float32ToHalf(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Errorf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back := float32ToHalf(f); back != uint16(h) {
			t.Errorf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
}
