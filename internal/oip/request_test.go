package oip

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

func TestDecodeInferRequest(t *testing.T) {
	nan32 := float32(math.NaN())
	tests := []struct {
		name string
		body string
		want *InferRequest
	}{{
		name: "protocol example",
		body: `{
		  "id" : "42",
		  "inputs" : [
		    {"name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "data" : [ 1, 2, 3, 4 ]},
		    {"name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "data" : [ true, false, true ]}
		  ],
		  "outputs" : [ {"name" : "output0"} ]
		}`,
		want: &InferRequest{
			ID: "42",
			Inputs: []inference.Tensor{
				{Name: "input0", Datatype: inference.UINT32, Shape: []int64{2, 2}, I64: []int64{1, 2, 3, 4}},
				{Name: "input1", Datatype: inference.BOOL, Shape: []int64{3}, Bool: []bool{true, false, true}},
			},
			Outputs: []RequestedOutput{{Name: "output0"}},
		},
	}, {
		name: "nested data equals flat data",
		body: `{"inputs":[{"name":"x","shape":[2,1,2],"datatype":"FP32","data":[[[1.5,-2e-3]],[[3E+2,null]]]}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "x", Datatype: inference.FP32, Shape: []int64{2, 1, 2}, F32: []float32{1.5, -0.002, 300, nan32}},
		}},
	}, {
		name: "data before datatype and shape",
		body: `{"inputs":[{"data":[[1,2],[3,4]],"name":"x","shape":[2,2],"datatype":"INT8"}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "x", Datatype: inference.INT8, Shape: []int64{2, 2}, I64: []int64{1, 2, 3, 4}},
		}},
	}, {
		name: "integer extremes",
		body: `{"inputs":[
			{"name":"u64","shape":[3],"datatype":"UINT64","data":[0,-0,18446744073709551615]},
			{"name":"i64","shape":[2],"datatype":"INT64","data":[-9223372036854775808,9223372036854775807]},
			{"name":"u8","shape":[2],"datatype":"UINT8","data":[0,255]},
			{"name":"i16","shape":[2],"datatype":"INT16","data":[-32768,32767]}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "u64", Datatype: inference.UINT64, Shape: []int64{3}, U64: []uint64{0, 0, math.MaxUint64}},
			{Name: "i64", Datatype: inference.INT64, Shape: []int64{2}, I64: []int64{math.MinInt64, math.MaxInt64}},
			{Name: "u8", Datatype: inference.UINT8, Shape: []int64{2}, I64: []int64{0, 255}},
			{Name: "i16", Datatype: inference.INT16, Shape: []int64{2}, I64: []int64{-32768, 32767}},
		}},
	}, {
		name: "floats",
		body: `{"inputs":[
			{"name":"h","shape":[2],"datatype":"FP16","data":[65504,-0.5]},
			{"name":"f","shape":[3],"datatype":"FP32","data":[3.4028235e38,1e-45,0.1]},
			{"name":"d","shape":[3],"datatype":"FP64","data":[1.7976931348623157e308,5e-324,null]}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "h", Datatype: inference.FP16, Shape: []int64{2}, F32: []float32{65504, -0.5}},
			{Name: "f", Datatype: inference.FP32, Shape: []int64{3}, F32: []float32{math.MaxFloat32, math.SmallestNonzeroFloat32, 0.1}},
			{Name: "d", Datatype: inference.FP64, Shape: []int64{3}, F64: []float64{math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN()}},
		}},
	}, {
		name: "bytes",
		body: `{"inputs":[{"name":"b","shape":[3],"datatype":"BYTES","data":["plain","esc\"aped\n\u00e9\ud83d\ude00",""]}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "b", Datatype: inference.BYTES, Shape: []int64{3}, Bytes: [][]byte{[]byte("plain"), []byte("esc\"aped\né😀"), {}}},
		}},
	}, {
		name: "empty and scalar shapes",
		body: `{"inputs":[
			{"name":"a","shape":[0,3],"datatype":"FP32","data":[]},
			{"name":"b","shape":[2,0],"datatype":"FP32","data":[[],[]]},
			{"name":"c","shape":[],"datatype":"INT32","data":[7]}]}`,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "a", Datatype: inference.FP32, Shape: []int64{0, 3}},
			{Name: "b", Datatype: inference.FP32, Shape: []int64{2, 0}},
			{Name: "c", Datatype: inference.INT32, Shape: []int64{}, I64: []int64{7}},
		}},
	}, {
		name: "parameters everywhere, unknown members ignored",
		body: `{"parameters":{"n":1,"f":1.5,"big":1e20,"s":"x","t":true,"z":null,"o":{"a":[1,{}]}},
			"inputs":[
				{"name":"x","shape":[1],"datatype":"FP64","data":[1],"parameters":{"content_type":"np"},"extra":{"q":[1,2]}},
				{"name":"y","shape":[1],"datatype":"FP64","data":[2]}],
			"outputs":[{"name":"p","parameters":{"binary_data":true},"extra":1}],
			"model_name":"ignored"}`,
		want: &InferRequest{
			Parameters: ParamsOf(map[string]any{"n": int64(1), "f": 1.5, "big": 1e20, "s": "x", "t": true, "z": nil,
				"o": map[string]any{"a": []any{int64(1), map[string]any{}}}}),
			Inputs: []inference.Tensor{
				{Name: "x", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{1}},
				{Name: "y", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{2}},
			},
			InputParameters: []map[string]any{{"content_type": "np"}, nil},
			Outputs:         []RequestedOutput{{Name: "p", Parameters: map[string]any{"binary_data": true}}},
		},
	}, {
		name: "null optional members",
		body: ` {"id":null,"parameters":null,"outputs":null,"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[false],"parameters":null}]} `,
		want: &InferRequest{Inputs: []inference.Tensor{
			{Name: "x", Datatype: inference.BOOL, Shape: []int64{1}, Bool: []bool{false}},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeInferRequest([]byte(tt.body), Limits{})
			if err != nil {
				t.Fatalf("DecodeInferRequest: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpTensors...); diff != "" {
				t.Errorf("DecodeInferRequest mismatch (-want +got):\n%s", diff)
			}
			ref, err := refDecodeInferRequest([]byte(tt.body), Limits{}, true)
			if err != nil {
				t.Fatalf("reference decoder: %v", err)
			}
			if diff := cmp.Diff(ref, got, cmpTensors...); diff != "" {
				t.Errorf("DecodeInferRequest differs from the reference decoder (-ref +got):\n%s", diff)
			}
		})
	}
}

// input wraps one input object in a request.
func input(s string) string { return `{"inputs":[` + s + `]}` }

// x is a valid input named x, to complete requests.
const x = `{"name":"x","shape":[1],"datatype":"FP32","data":[1]}`

func TestDecodeInferRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		lim   Limits
		field string
		msg   string
	}{
		// The body as a whole.
		{"empty body", ``, Limits{}, "", "body is not valid JSON: unexpected end of input (the body is empty) at offset 0"},
		{"truncated", `{"inputs":[`, Limits{}, "", "body is not valid JSON: unexpected end of input at offset 11"},
		{"not an object", `[1]`, Limits{}, "", "body must be a JSON object (an inference request), got an array"},
		{"trailing data", input(x) + ` x`, Limits{}, "", "body is not valid JSON: unexpected data after the top-level value at offset 67"},
		{"leading zero", input(`{"name":"x","shape":[1],"datatype":"FP32","data":[01]}`), Limits{}, "", "body is not valid JSON: unexpected '1', expected ',' or ']' after an array element at offset 62"},
		{"bad literal", input(`{"name":"x","shape":[1],"datatype":"BOOL","data":[tru]}`), Limits{}, "", `body is not valid JSON: unexpected ']', expected "true" at offset 64`},
		{"NaN literal", input(`{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}`), Limits{}, "", "body is not valid JSON: unexpected 'N', expected a value (JSON has no NaN or Infinity; null stands for NaN) at offset 61"},
		{"bad escape", `{"id":"\q","inputs":[]}`, Limits{}, "", `body is not valid JSON: invalid escape "\\q" in string at offset 7`},
		{"invalid UTF-8", "{\"id\":\"\xff\",\"inputs\":[]}", Limits{}, "", "body is not valid JSON: invalid UTF-8 in string at offset 7"},
		{"control character", "{\"id\":\"a\nb\",\"inputs\":[]}", Limits{}, "", "body is not valid JSON: control character in string at offset 8"},
		{"too deep", `{"p":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"inputs":[` + x + `]}`, Limits{}, "", "body is not valid JSON: arrays and objects nested deeper than 10000 levels at offset 10004"},
		{"duplicate key", `{"id":"a","id":"b","inputs":[]}`, Limits{}, "", `duplicate key "id" at offset 10`},
		{"duplicate unknown key", `{"inputs":[` + x + `],"p":{"a":1,"a":2}}`, Limits{}, "", `duplicate key "a" at offset 77`},

		// Top-level members.
		{"id not a string", `{"id":5,"inputs":[]}`, Limits{}, "id", "expected a string, got number 5"},
		{"inputs missing", `{}`, Limits{}, "inputs", "required field is missing"},
		{"inputs null", `{"inputs":null}`, Limits{}, "inputs", "required field is missing"},
		{"inputs empty", `{"inputs":[]}`, Limits{}, "inputs", "at least one input is required"},
		{"inputs not an array", `{"inputs":{}}`, Limits{}, "inputs", "expected an array of input tensors, got an object"},
		{"input not an object", `{"inputs":[5]}`, Limits{}, "inputs[0]", "expected an input tensor object, got number 5"},
		{"parameters not an object", `{"parameters":[1],"inputs":[` + x + `]}`, Limits{}, "parameters", "expected an object of parameters, got an array"},
		{"parameter out of range", `{"parameters":{"a":1e999},"inputs":[` + x + `]}`, Limits{}, "parameters.a", "number 1e999 at offset 19 is out of range for a 64-bit float"},
		{"nested parameter out of range", `{"parameters":{"a\u0062":[{"c":-1e999}]},"inputs":[` + x + `]}`, Limits{}, "parameters.ab", "number -1e999 at offset 31 is out of range for a 64-bit float"},
		{"duplicate parameter", `{"parameters":{"ab":1,"a\u0062":2},"inputs":[` + x + `]}`, Limits{}, "parameters", `duplicate key "ab"`},
		{"duplicate nested key", `{"parameters":{"o":{"k":1,"k":2}},"inputs":[` + x + `]}`, Limits{}, "parameters.o", `duplicate key "k" at offset 26`},
		{"duplicate among many parameters", `{"parameters":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"c":9},"inputs":[` + x + `]}`, Limits{}, "parameters", `duplicate key "c"`},

		// An input's members.
		{"name missing", input(`{"shape":[1],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].name", "required field is missing"},
		{"name empty", input(`{"name":"","shape":[1],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].name", "must not be empty"},
		{"name not a string", input(`{"name":1,"shape":[1],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].name", "expected a string, got number 1"},
		{"duplicate name", input(x + "," + x), Limits{}, "inputs[1].name", `duplicate input name "x" (also inputs[0])`},
		{"duplicate member", input(`{"name":"x","shape":[1],"datatype":"FP32","data":[1],"shape":[1]}`), Limits{}, "inputs[0]", `duplicate key "shape"`},
		{"datatype missing", input(`{"name":"x","shape":[1],"data":[1]}`), Limits{}, "inputs[0].datatype", "required field is missing"},
		{"unknown datatype", input(`{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}`), Limits{}, "inputs[0].datatype", `unknown datatype "FLOAT" (want one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES)`},
		{"shape missing", input(`{"name":"x","datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape", "required field is missing"},
		{"shape not an array", input(`{"name":"x","shape":"2","datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape", `expected an array of dimensions, got string "2"`},
		{"negative dimension", input(`{"name":"x","shape":[-1,3],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape[0]", "is -1; dimensions must be 0 or more (-1 only appears in model metadata)"},
		{"fractional dimension", input(`{"name":"x","shape":[2,1.5],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape[1]", "expected a dimension (an integer, 0 or more), got number 1.5"},
		{"string dimension", input(`{"name":"x","shape":["2"],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape[0]", `expected a dimension (an integer, 0 or more), got string "2"`},
		{"huge dimension", input(`{"name":"x","shape":[99999999999999999999],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape[0]", "99999999999999999999 is too large"},
		{"too many dimensions", input(`{"name":"x","shape":[` + strings.Repeat("1,", 64) + `1],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape", "has more than 64 dimensions"},
		{"over the default limit", input(`{"name":"x","shape":[100000,100000],"datatype":"FP32","data":[1]}`), Limits{}, "inputs[0].shape", "[100000,100000] has too many elements: a request may hold at most 16777216"},
		{"over the limit across inputs", input(`{"name":"a","shape":[6],"datatype":"FP32","data":[1,2,3,4,5,6]},{"name":"b","shape":[2,3],"datatype":"FP32","data":[]}`), Limits{MaxElements: 10}, "inputs[1].shape", "[2,3] has too many elements: a request may hold at most 10"},
		{"data missing", input(`{"name":"x","shape":[1],"datatype":"FP32"}`), Limits{}, "inputs[0].data", "required field is missing"},
		{"data not an array", input(`{"name":"x","shape":[1],"datatype":"FP32","data":1}`), Limits{}, "inputs[0].data", "expected an array, got number 1"},
		{"binary extension", input(`{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}`), Limits{}, "inputs[0].parameters.binary_data_size", `the binary tensor data extension is not supported; send the tensor as a JSON array in "data"`},
		{"shared memory", input(`{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"shared_memory_region":"r"}}`), Limits{}, "inputs[0].parameters.shared_memory_region", "the shared-memory extension is not supported; send tensors in the request body"},

		// Data against shape.
		{"too few elements", input(`{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5]}`), Limits{}, "inputs[0].data", "shape [2,3] needs 6 elements, got 5"},
		{"too many elements", input(`{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6,7]}`), Limits{}, "inputs[0].data", "shape [2,3] needs 6 elements, got 7"},
		{"too many elements, data first", input(`{"data":[1,2,3],"name":"x","shape":[2],"datatype":"FP32"}`), Limits{}, "inputs[0].data", "shape [2] needs 2 elements, got 3"},
		{"array in flat data", input(`{"name":"x","shape":[4],"datatype":"INT32","data":[1,[2],3,4]}`), Limits{}, "inputs[0].data[1]", "expected an integer, got an array: data must be flat, or nested exactly as shape [4]"},
		{"nested too deep", input(`{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,[4]]]}`), Limits{}, "inputs[0].data[1][1]", "expected an integer, got an array: data is nested deeper than shape [2,2]"},
		{"nested too shallow", input(`{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],3]}`), Limits{}, "inputs[0].data[1]", "expected an array (data nested as shape [2,2]), got number 3"},
		{"nested outer length", input(`{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,4],[5,6]]}`), Limits{}, "inputs[0].data", "has 3 elements; shape [2,2] needs 2 in dimension 0"},
		{"nested inner length", input(`{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],[3]]}`), Limits{}, "inputs[0].data[1]", "has 1 element; shape [2,2] needs 2 in dimension 1"},
		{"partial nesting", input(`{"name":"x","shape":[2,3,2],"datatype":"INT32","data":[[1,2,3,4,5,6],[1,2,3,4,5,6]]}`), Limits{}, "inputs[0].data[0][0]", "expected an array (data nested as shape [2,3,2]), got number 1"},

		// Elements against datatype.
		{"string in FP32", input(`{"name":"x","shape":[2],"datatype":"FP32","data":[1,"abc"]}`), Limits{}, "inputs[0].data[1]", `expected a number, got string "abc"`},
		{"fraction in INT32", input(`{"name":"x","shape":[2],"datatype":"INT32","data":[1,1.5]}`), Limits{}, "inputs[0].data[1]", "expected an integer for INT32, got number 1.5"},
		{"exponent in INT32", input(`{"name":"x","shape":[2],"datatype":"INT32","data":[1,1e3]}`), Limits{}, "inputs[0].data[1]", "expected an integer for INT32, got number 1e3"},
		{"null in INT32", input(`{"name":"x","shape":[2],"datatype":"INT32","data":[1,null]}`), Limits{}, "inputs[0].data[1]", "expected an integer, got null"},
		{"300 in UINT8", input(`{"name":"x","shape":[2],"datatype":"UINT8","data":[1,300]}`), Limits{}, "inputs[0].data[1]", "300 is out of range for UINT8 (0..255)"},
		{"negative UINT32", input(`{"name":"x","shape":[1],"datatype":"UINT32","data":[-1]}`), Limits{}, "inputs[0].data[0]", "-1 is out of range for UINT32 (0..4294967295)"},
		{"-129 in INT8", input(`{"name":"x","shape":[2],"datatype":"INT8","data":[1,-129]}`), Limits{}, "inputs[0].data[1]", "-129 is out of range for INT8 (-128..127)"},
		{"INT64 overflow", input(`{"name":"x","shape":[1],"datatype":"INT64","data":[9223372036854775808]}`), Limits{}, "inputs[0].data[0]", "9223372036854775808 is out of range for INT64 (-9223372036854775808..9223372036854775807)"},
		{"negative UINT64", input(`{"name":"x","shape":[2],"datatype":"UINT64","data":[1,-1]}`), Limits{}, "inputs[0].data[1]", "-1 is out of range for UINT64 (0..18446744073709551615)"},
		{"UINT64 overflow", input(`{"name":"x","shape":[1],"datatype":"UINT64","data":[18446744073709551616]}`), Limits{}, "inputs[0].data[0]", "18446744073709551616 is out of range for UINT64 (0..18446744073709551615)"},
		{"FP32 overflow", input(`{"name":"x","shape":[2],"datatype":"FP32","data":[1,1e39]}`), Limits{}, "inputs[0].data[1]", "1e39 is out of range for FP32"},
		{"FP16 overflow", input(`{"name":"x","shape":[2],"datatype":"FP16","data":[1,70000]}`), Limits{}, "inputs[0].data[1]", "70000 is out of range for FP16 (largest magnitude 65504)"},
		{"FP64 overflow", input(`{"name":"x","shape":[2],"datatype":"FP64","data":[1,1e309]}`), Limits{}, "inputs[0].data[1]", "1e309 is out of range for FP64"},
		{"number in BOOL", input(`{"name":"x","shape":[2],"datatype":"BOOL","data":[true,0]}`), Limits{}, "inputs[0].data[1]", "expected true or false, got number 0"},
		{"number in BYTES", input(`{"name":"x","shape":[2],"datatype":"BYTES","data":["a",1]}`), Limits{}, "inputs[0].data[1]", "expected a string, got number 1"},
		{"long string shortened", input(`{"name":"x","shape":[1],"datatype":"FP64","data":["` + strings.Repeat("a", 100) + `"]}`), Limits{}, "inputs[0].data[0]", `expected a number, got string "` + strings.Repeat("a", 40) + `..."`},
		{"second input", input(x + `,{"name":"y","shape":[1],"datatype":"INT8","data":[1000]}`), Limits{}, "inputs[1].data[0]", "1000 is out of range for INT8 (-128..127)"},

		// Requested outputs.
		{"outputs not an array", `{"inputs":[` + x + `],"outputs":{}}`, Limits{}, "outputs", "expected an array of requested outputs, got an object"},
		{"output not an object", `{"inputs":[` + x + `],"outputs":["y"]}`, Limits{}, "outputs[0]", `expected an object, got string "y"`},
		{"output name missing", `{"inputs":[` + x + `],"outputs":[{}]}`, Limits{}, "outputs[0].name", "required field is missing"},
		{"output name duplicate", `{"inputs":[` + x + `],"outputs":[{"name":"y"},{"name":"y"}]}`, Limits{}, "outputs[1].name", `duplicate output name "y" (also outputs[0])`},
		{"output in shared memory", `{"inputs":[` + x + `],"outputs":[{"name":"y","parameters":{"shared_memory_region":"r"}}]}`, Limits{}, "outputs[0].parameters.shared_memory_region", "the shared-memory extension is not supported; send tensors in the request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeInferRequest([]byte(tt.body), tt.lim)
			if err == nil {
				t.Fatalf("DecodeInferRequest = %+v, want error %s: %s", got, tt.field, tt.msg)
			}
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInferRequest error %v is a %T, want *inference.InputError", err, err)
			}
			if ie.Field != tt.field || ie.Msg != tt.msg {
				t.Errorf("DecodeInferRequest error:\n got field %q msg %q\nwant field %q msg %q", ie.Field, ie.Msg, tt.field, tt.msg)
			}
			if _, err := refDecodeInferRequest([]byte(tt.body), tt.lim, true); err == nil {
				t.Errorf("the reference decoder accepts this body")
			}
		})
	}
}

// TestDecodeInferRequestDoesNotAlias checks that the result survives the
// body's buffer being reused, as the gateway does with pooled buffers.
func TestDecodeInferRequestDoesNotAlias(t *testing.T) {
	body := []byte(`{"id":"req","inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["ab","cd"]}],"outputs":[{"name":"y"}]}`)
	req, err := DecodeInferRequest(body, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'z'
	}
	want := &InferRequest{
		ID:      "req",
		Inputs:  []inference.Tensor{{Name: "x", Datatype: inference.BYTES, Shape: []int64{2}, Bytes: [][]byte{[]byte("ab"), []byte("cd")}}},
		Outputs: []RequestedOutput{{Name: "y"}},
	}
	if diff := cmp.Diff(want, req, cmpTensors...); diff != "" {
		t.Errorf("request changed with the body (-want +got):\n%s", diff)
	}
}

// TestDecodeInferRequestSmallBodyBigShape checks that a shape cannot make
// a small body allocate much.
func TestDecodeInferRequestSmallBodyBigShape(t *testing.T) {
	body := []byte(input(`{"name":"x","shape":[16000000],"datatype":"FP64","data":[1,2,3]}`))
	allocs := testing.AllocsPerRun(10, func() { DecodeInferRequest(body, Limits{}) })
	if allocs > 20 {
		t.Errorf("%v allocations", allocs)
	}
	var ms1, ms2 runtimeMem
	ms1.read()
	for range 10 {
		DecodeInferRequest(body, Limits{})
	}
	ms2.read()
	if grown := ms2.total - ms1.total; grown > 1<<20 {
		t.Errorf("decoding a %d-byte body 10 times allocated %d bytes", len(body), grown)
	}
}

// runtimeMem reads the bytes allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}

// TestDecodeInferRequestWide covers requests with many inputs and many
// unknown members, where duplicates are found through maps.
func TestDecodeInferRequestWide(t *testing.T) {
	var inputs, members []string
	for i := range 20 {
		inputs = append(inputs, fmt.Sprintf(`{"name":"in%d","shape":[1],"datatype":"INT32","data":[%d]}`, i, i))
		members = append(members, fmt.Sprintf(`"m%d":%d`, i, i))
	}
	body := `{"inputs":[` + strings.Join(inputs, ",") + `],` + strings.Join(members, ",") + `}`
	req, err := DecodeInferRequest([]byte(body), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Inputs) != 20 || req.Inputs[19].I64[0] != 19 {
		t.Errorf("decoded %d inputs: %+v", len(req.Inputs), req.Inputs)
	}

	dupInput := `{"inputs":[` + strings.Join(inputs, ",") + `,{"name":"in3","shape":[1],"datatype":"INT32","data":[3]}]}`
	dupMember := body[:len(body)-1] + `,"m17":1}`
	for _, tt := range []struct{ body, want string }{
		{dupInput, `inputs[20].name: duplicate input name "in3" (also inputs[3])`},
		{dupMember, fmt.Sprintf(`duplicate key "m17" at offset %d`, len(dupMember)-8)},
	} {
		_, err := DecodeInferRequest([]byte(tt.body), Limits{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("DecodeInferRequest error %v, want %s", err, tt.want)
		}
	}
}

// TestParams reads request parameters by name and as a map, from a decoded
// request and from a map.
func TestParams(t *testing.T) {
	body := `{"parameters":{"explain":true,"tag":"g\u0077","n":7,"o":{"a":[1.5,null]},"k\u0065y":"v"},"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`
	req, err := DecodeInferRequest([]byte(body), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"explain": true, "tag": "gw", "n": int64(7), "o": map[string]any{"a": []any{1.5, nil}}, "key": "v"}
	for _, p := range []Params{req.Parameters, ParamsOf(want)} {
		if p.IsZero() {
			t.Fatalf("%v: IsZero", p)
		}
		for k, v := range want {
			if got, ok := p.Lookup(k); !ok || !cmp.Equal(got, v) {
				t.Errorf("Lookup(%q) = %v, %v; want %v", k, got, ok, v)
			}
		}
		if got, ok := p.Lookup("missing"); ok {
			t.Errorf("Lookup(missing) = %v, true", got)
		}
		if diff := cmp.Diff(want, p.Map()); diff != "" {
			t.Errorf("Map (-want +got):\n%s", diff)
		}
	}
	for _, tt := range []struct {
		body string
		zero bool
	}{{`{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`, true},
		{`{"parameters":null,"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`, true},
		{`{"parameters":{},"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`, false}} {
		req, err := DecodeInferRequest([]byte(tt.body), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := req.Parameters.IsZero(); got != tt.zero {
			t.Errorf("%s: IsZero = %v, want %v", tt.body, got, tt.zero)
		}
		if m := req.Parameters.Map(); (m == nil) != tt.zero {
			t.Errorf("%s: Map = %#v", tt.body, m)
		}
	}
	body = `{"parameters":{"priority":1,"tag":"gw"},"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`
	req, err = DecodeInferRequest([]byte(body), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { req.Parameters.Lookup("explain") }); allocs != 0 {
		t.Errorf("Lookup of a missing parameter allocates %v times", allocs)
	}
}
