package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/oip/oippb"
	"github.com/sluicehq/sluice/internal/traffic"
)

// fuzzLimits keeps fuzzed requests small enough to score quickly.
var fuzzLimits = oip.Limits{MaxElements: 1 << 12}

// FuzzModelInfer feeds arbitrary bytes through proto.Unmarshal into a
// ModelInferRequest and then through the gRPC decoding path and the whole
// ModelInfer handler (endpoints "bc" and "echo"). It checks that nothing
// panics, that every decoding error is an *inference.InputError, that
// decoded tensors are valid and within the element limit and survive a
// raw round trip unchanged, and that the handler only fails with the codes
// bad input can cause.
func FuzzModelInfer(f *testing.F) {
	for _, m := range fuzzSeeds() {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x2a, 0x03, 0x0a, 0x01, 0x78}) // inputs: [{name: "x"}]

	g, _ := newTestGateway(f, Options{Limits: fuzzLimits})
	eps := map[string]*Endpoint{"echo": {Name: "echo", Model: "echo", Plan: traffic.Single(1),
		Backends: map[int]*Backend{1: NewBackend("echo", 1, "stub", echoModel(), nil)}}}
	for k, v := range g.Current().Endpoints {
		eps[k] = v
	}
	g.Swap(&Snapshot{Revision: 2, Endpoints: eps})
	svc := &grpcService{g: g}

	f.Fuzz(func(t *testing.T, b []byte) {
		var m oippb.ModelInferRequest
		if err := proto.Unmarshal(b, &m); err != nil {
			return
		}
		req, err := decodeGRPCRequest(&m, fuzzLimits)
		if err != nil {
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("decoding error %T is not an *inference.InputError: %v", err, err)
			}
		} else {
			checkDecoded(t, req)
		}
		_, err = svc.ModelInfer(context.Background(), &m)
		switch c := status.Code(err); c {
		case codes.OK, codes.InvalidArgument, codes.NotFound:
		default:
			t.Fatalf("ModelInfer failed with %v: %v", c, err)
		}
	})
}

// checkDecoded checks a decoded request's tensors and that writing them
// raw and decoding again gives the same request.
func checkDecoded(t *testing.T, req *oip.InferRequest) {
	t.Helper()
	total := 0
	again := &oippb.ModelInferRequest{}
	for i := range req.Inputs {
		in := &req.Inputs[i]
		if err := in.Validate(); err != nil {
			t.Fatalf("decoded input %d is invalid: %v", i, err)
		}
		total += in.Len()
		again.Inputs = append(again.Inputs, &oippb.ModelInferRequest_InferInputTensor{Name: in.Name, Datatype: string(in.Datatype), Shape: in.Shape})
		again.RawInputContents = append(again.RawInputContents, appendRaw(nil, in))
	}
	if total > fuzzLimits.MaxElements {
		t.Fatalf("decoded %d elements, over the limit of %d", total, fuzzLimits.MaxElements)
	}
	got, err := decodeGRPCRequest(again, fuzzLimits)
	if err != nil {
		t.Fatalf("inputs written raw do not decode: %v", err)
	}
	if diff := cmp.Diff(req.Inputs, got.Inputs, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("raw round trip changed the inputs (-before +after):\n%s", diff)
	}
}

// fuzzSeeds are valid and nearly valid requests covering typed and raw
// data of every datatype, parameters and requested outputs.
func fuzzSeeds() []*oippb.ModelInferRequest {
	row := make([]float32, 30)
	var raw []byte
	for i := range row {
		row[i] = float32(i) / 3
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(row[i]))
	}
	in := func(name, dt string, shape []int64, c *oippb.InferTensorContents) *oippb.ModelInferRequest_InferInputTensor {
		return &oippb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dt, Shape: shape, Contents: c}
	}
	param := &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_BoolParam{BoolParam: true}}
	return []*oippb.ModelInferRequest{
		{ModelName: "bc", Inputs: []*oippb.ModelInferRequest_InferInputTensor{in("input", "FP32", []int64{1, 30}, &oippb.InferTensorContents{Fp32Contents: row})}},
		{ModelName: "bc", ModelVersion: "2", Id: "x", Inputs: []*oippb.ModelInferRequest_InferInputTensor{in("input", "FP32", []int64{1, 30}, nil)}, RawInputContents: [][]byte{raw},
			Parameters: map[string]*oippb.InferParameter{ParamBinaryDataOutput: param}},
		{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
			in("bool", "BOOL", []int64{2}, &oippb.InferTensorContents{BoolContents: []bool{true, false}}),
			in("int8", "INT8", []int64{1, 2}, &oippb.InferTensorContents{IntContents: []int32{-1, 1}}),
			in("uint16", "UINT16", []int64{1}, &oippb.InferTensorContents{UintContents: []uint32{7}}),
			in("int64", "INT64", []int64{1}, &oippb.InferTensorContents{Int64Contents: []int64{-7}}),
			in("uint64", "UINT64", []int64{1}, &oippb.InferTensorContents{Uint64Contents: []uint64{7}}),
			in("fp64", "FP64", []int64{1}, &oippb.InferTensorContents{Fp64Contents: []float64{0.5}}),
			in("bytes", "BYTES", []int64{2}, &oippb.InferTensorContents{BytesContents: [][]byte{[]byte("a"), nil}}),
		}, Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "int8", Parameters: map[string]*oippb.InferParameter{"binary_data": param}}}},
		{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
			in("fp16", "FP16", []int64{2}, nil),
			in("uint32", "UINT32", []int64{1}, nil),
			in("bytes", "BYTES", []int64{1}, nil),
			in("int16", "INT16", []int64{1}, nil),
		}, RawInputContents: [][]byte{{0x00, 0x3c, 0x00, 0x7c}, {1, 2, 3, 4}, {1, 0, 0, 0, 'z'}, {0xff, 0xff}}},
		{ModelName: "echo", Inputs: []*oippb.ModelInferRequest_InferInputTensor{in("bool", "BOOL", []int64{0, 4}, nil)}},
	}
}
