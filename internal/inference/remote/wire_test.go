package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// sampleTensors holds one tensor of each storage kind.
func sampleTensors() []inference.Tensor {
	return []inference.Tensor{
		{Name: "f32", Datatype: inference.FP32, Shape: []int64{2, 2}, F32: []float32{1.5, -0.1, 3e-9, float32(math.NaN())}},
		{Name: "f64", Datatype: inference.FP64, Shape: []int64{3}, F64: []float64{0.1, 1e300, -2}},
		{Name: "i8", Datatype: inference.INT8, Shape: []int64{2}, I64: []int64{-128, 127}},
		{Name: "u64", Datatype: inference.UINT64, Shape: []int64{1}, U64: []uint64{math.MaxUint64}},
		{Name: "b", Datatype: inference.BOOL, Shape: []int64{2}, Bool: []bool{true, false}},
		{Name: "s\"\n", Datatype: inference.BYTES, Shape: []int64{2}, Bytes: [][]byte{[]byte("héllo"), []byte(`"q"`)}},
		{Name: "empty", Datatype: inference.FP32, Shape: []int64{0, 4}, F32: []float32{}},
	}
}

var tensorOpts = cmp.Options{cmpopts.EquateNaNs(), cmpopts.EquateEmpty()}

func TestV2RequestRoundTrip(t *testing.T) {
	in := sampleTensors()
	body := appendV2Request([]byte("prefix"), in)
	if !bytes.HasPrefix(body, []byte("prefix"+reqPrefix)) {
		t.Fatalf("body = %s", body)
	}
	req, err := oip.DecodeInferRequest(body[len("prefix"):], oip.Limits{})
	if err != nil {
		t.Fatalf("DecodeInferRequest: %v\n%s", err, body)
	}
	if diff := cmp.Diff(in, req.Inputs, tensorOpts); diff != "" {
		t.Errorf("round trip (-sent +decoded):\n%s", diff)
	}
}

func TestDecodeV2Response(t *testing.T) {
	want := sampleTensors()
	body := oip.AppendInferResponse(nil, &oip.InferResponse{ModelName: "m", ID: "1", Outputs: want})
	orig := bytes.Clone(body)
	got, err := decodeV2Response(body)
	if err != nil {
		t.Fatalf("decodeV2Response: %v", err)
	}
	if diff := cmp.Diff(want, got, tensorOpts); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if !bytes.Equal(body, orig) {
		t.Errorf("body changed:\n%s\nwas\n%s", body, orig)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1,2]}]}`, ""},
		{` { "model_name" : "m" , "outputs" : [ {"name":"y","datatype":"FP32","shape":[2,1],"data":[[1],[2]],"parameters":{"a":1}} ] , "x":{"outputs":1} } `, ""},
		{`{"outp\u0075ts":[{"name":"y","datatype":"FP32","shape":[2],"data":[1,null]}]}`, ""},
		{``, "not valid JSON"},
		{`{"outputs":[}`, "not valid JSON"},
		{`[1]`, "response is an array, not a JSON object"},
		{`{}`, `response has no "outputs"`},
		{`{"outputs":null,"error":"model exploded"}`, "model exploded"},
		{`{"error":"model exploded"}`, "response has no outputs; error: model exploded"},
		{`{"outputs":{}}`, "outputs: want an array of tensors, got an object"},
		{`{"outputs":[],"outputs":[]}`, `"outputs" twice`},
		{`{"outputs":[]}`, "outputs: at least one"},
		{`{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1]}]}`, "outputs[0].data: shape [2] needs 2 elements, got 1"},
		{`{"outputs":[{"name":"y","datatype":"INT8","shape":[1],"data":[300]}]}`, "outputs[0].data[0]: 300 is out of range"},
		{`{"outputs":[{"name":"y","datatype":"FP32","shape":[1000000000],"data":[1]}]}`, "too many elements"},
	} {
		got, err := decodeV2Response([]byte(tc.body))
		if tc.want == "" {
			if err != nil || len(got) != 1 || got[0].Validate() != nil {
				t.Errorf("decodeV2Response(%s) = %+v, %v", tc.body, got, err)
			}
			continue
		}
		var ie *inference.InputError
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ie) {
			t.Errorf("decodeV2Response(%s)\n got error %v\nwant a plain error containing %q", tc.body, err, tc.want)
		}
	}
}

func TestInstancesAndPredictions(t *testing.T) {
	in := inference.Tensor{Name: "x", Datatype: inference.FP32, Shape: []int64{2, 2}, F32: []float32{1, float32(math.Inf(1)), float32(math.NaN()), 0.1}}
	if got, want := string(appendInstances(nil, &in)), `{"instances":[[1,Infinity],[NaN,0.1]]}`; got != want {
		t.Errorf("appendInstances = %s, want %s", got, want)
	}
	out := newTFOutput(inference.TensorSpec{Name: "p", Datatype: inference.FP64})
	for _, tc := range []struct {
		body  string
		rows  int
		want  []inference.Tensor
		error string
	}{
		{body: `{"predictions":[0.5,1]}`, rows: 2, want: []inference.Tensor{{Name: "p", Datatype: inference.FP64, Shape: []int64{2}, F64: []float64{0.5, 1}}}},
		{body: `{"predictions":[[0.5,0.5],[0,1],[1,0]]}`, rows: 3, want: []inference.Tensor{{Name: "p", Datatype: inference.FP64, Shape: []int64{3, 2}, F64: []float64{0.5, 0.5, 0, 1, 1, 0}}}},
		{body: `{"predictions":[]}`, rows: 0, want: []inference.Tensor{{Name: "p", Datatype: inference.FP64, Shape: []int64{0}, F64: []float64{}}}},
		{body: `{"predictions":[1]}`, rows: 2, error: "predictions: has 1 rows for 2 instances"},
		{body: `{"predictions":[[1,2],[3]]}`, rows: 2, error: "predictions[1]: has 1 element"},
		{body: `{"predictions":[{"a":1}]}`, rows: 1, error: "several named outputs"},
		{body: `{"predictions":["x"]}`, rows: 1, error: "predictions[0]: expected a number"},
		{body: `{"error":"Input size does not match"}`, rows: 1, error: "Input size does not match"},
		{body: `{"predictions":[NaN]}`, rows: 1, error: "not valid JSON"},
	} {
		got, _, err := decodePredictions([]byte(tc.body), tc.rows, &out, nil)
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("decodePredictions(%s) error = %v, want one containing %q", tc.body, err, tc.error)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodePredictions(%s): %v", tc.body, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, tensorOpts); diff != "" {
			t.Errorf("decodePredictions(%s) (-want +got):\n%s", tc.body, diff)
		}
	}
}

func TestConvert(t *testing.T) {
	specs := inputSpecs(&inference.Signature{Inputs: []inference.TensorSpec{
		{Name: "i", Datatype: inference.INT8, Shape: []int64{-1}},
		{Name: "f", Datatype: inference.FP32, Features: []inference.Feature{{Name: "a"}, {Name: "b"}}},
	}})
	good := []inference.Tensor{
		{Name: "f", Datatype: inference.BOOL, Shape: []int64{2}, Bool: []bool{true, false}},
		{Name: "i", Datatype: inference.FP64, Shape: []int64{2}, F64: []float64{-3, 127}},
	}
	got, err := prepare(specs, good)
	if err != nil {
		t.Fatal(err)
	}
	want := []inference.Tensor{
		{Name: "f", Datatype: inference.FP32, Shape: []int64{1, 2}, F32: []float32{1, 0}},
		{Name: "i", Datatype: inference.INT8, Shape: []int64{2}, I64: []int64{-3, 127}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("prepare (-want +got):\n%s", diff)
	}
	if good[0].Datatype != inference.BOOL {
		t.Errorf("prepare changed the caller's tensors")
	}
	same := []inference.Tensor{want[1], want[0]}
	if got, err := prepare(specs, same); err != nil || &got[0] != &same[0] {
		t.Errorf("prepare of conforming tensors copied them (err %v)", err)
	}
	f := want[0]
	for _, tc := range []struct {
		in   []inference.Tensor
		want string
	}{
		{nil, `inputs: input "i" is missing`},
		{[]inference.Tensor{f}, `inputs: input "i" is missing`},
		{[]inference.Tensor{f, f}, `inputs[1].name: input "f" is given twice`},
		{[]inference.Tensor{f, {Name: "z"}}, `inputs[1].name: the model has no input "z"`},
		{[]inference.Tensor{f, {Name: "i", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{0.5}}}, "i.data[0]: 0.5 is not a whole number"},
		{[]inference.Tensor{f, {Name: "i", Datatype: inference.INT64, Shape: []int64{1}, I64: []int64{128}}}, "i.data[0]: 128 is out of range"},
		{[]inference.Tensor{f, {Name: "i", Datatype: inference.BYTES, Shape: []int64{1}, Bytes: [][]byte{nil}}}, "i.datatype: is BYTES, the model takes INT8"},
		{[]inference.Tensor{f, {Name: "i", Datatype: inference.INT8, Shape: []int64{1, 1}, I64: []int64{1}}}, "i.shape: is [1,1], want [-1]"},
		{[]inference.Tensor{{Name: "f", Datatype: inference.FP32, Shape: []int64{1, 3}, F32: make([]float32, 3)}, want[1]}, "f.shape: is [1,3], want [-1,2]"},
		{[]inference.Tensor{{Name: "f", Datatype: inference.FP32, Shape: []int64{2, 2}, F32: make([]float32, 3)}, want[1]}, "f.data: has 3 elements"},
	} {
		_, err := prepare(specs, tc.in)
		var ie *inference.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("prepare(%v) = %v, want *InputError containing %q", tc.in, err, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"error":"bad input"}`, 400, "bad input"},
		{`{"error":{"code":3}}`, 400, `{"code":3}`},
		{"plain text\n", 500, "plain text"},
		{"", 503, "Service Unavailable"},
		{strings.Repeat("é", 400), 500, strings.Repeat("é", 256) + "..."},
	} {
		if got := errorMessage([]byte(tc.body), tc.status); got != tc.want {
			t.Errorf("errorMessage(%.20q) = %.40q, want %.40q", tc.body, got, tc.want)
		}
	}
}

// FuzzDecodeV2Response checks the response decoder on arbitrary bodies:
// it never panics and leaves the body as it found it; what it accepts is
// valid JSON holding valid tensors, which the encoding/json reference
// reads the same way, and which survive re-encoding.
func FuzzDecodeV2Response(f *testing.F) {
	f.Add(oip.AppendInferResponse(nil, &oip.InferResponse{ModelName: "m", Outputs: sampleTensors()}))
	f.Add([]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[2,1],"data":[[1],[null]]}],"model_version":"1"}`))
	f.Add([]byte(`{"outp\u0075ts":[{"name":"y","datatype":"BYTES","shape":[1],"data":["\ud83d\ude00"]}]}`))
	f.Add([]byte(`{"error":"x","outputs":[{"name":"y","datatype":"UINT64","shape":[1],"data":[18446744073709551615]}]}`))
	f.Add([]byte(`{"outputs":[{"name":"y","datatype":"BOOL","shape":[0],"data":[]}]}`))
	f.Add([]byte(`{"outputs":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		got, err := decodeV2Response(body)
		if !bytes.Equal(body, orig) {
			t.Fatalf("body changed:\n%q\nwas\n%q", body, orig)
		}
		if err != nil {
			var ie *inference.InputError
			if errors.As(err, &ie) {
				t.Fatalf("error %v is an *InputError; a bad response is not the caller's fault", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var ref struct {
			Outputs []struct {
				Name     string  `json:"name"`
				Datatype string  `json:"datatype"`
				Shape    []int64 `json:"shape"`
			} `json:"outputs"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("encoding/json rejects what was accepted: %v", err)
		}
		if len(ref.Outputs) != len(got) {
			t.Fatalf("%d outputs, encoding/json reads %d", len(got), len(ref.Outputs))
		}
		for i := range got {
			if err := got[i].Validate(); err != nil {
				t.Fatalf("outputs[%d] invalid: %v", i, err)
			}
			r := ref.Outputs[i]
			if got[i].Name != r.Name || string(got[i].Datatype) != r.Datatype || !cmp.Equal(got[i].Shape, r.Shape, cmpopts.EquateEmpty()) {
				t.Fatalf("outputs[%d] = %s %s %v, encoding/json reads %s %s %v", i, got[i].Name, got[i].Datatype, got[i].Shape, r.Name, r.Datatype, r.Shape)
			}
		}
		again, err := decodeV2Response(oip.AppendInferResponse(nil, &oip.InferResponse{Outputs: got}))
		if err != nil {
			t.Fatalf("re-encoded response rejected: %v", err)
		}
		if diff := cmp.Diff(got, again, tensorOpts); diff != "" && !hasBytes(got) {
			t.Fatalf("re-encoding changed the tensors (-first +second):\n%s", diff)
		}
	})
}

// hasBytes reports BYTES tensors, whose invalid UTF-8 the encoder
// replaces, so they need not survive re-encoding byte for byte.
func hasBytes(ts []inference.Tensor) bool {
	for _, t := range ts {
		if t.Datatype == inference.BYTES {
			return true
		}
	}
	return false
}

// FuzzDecodePredictions checks the TF Serving decoder: no panics, and an
// accepted body gives one valid tensor with the rows asked for.
func FuzzDecodePredictions(f *testing.F) {
	f.Add([]byte(`{"predictions":[[0.5,0.5],[0,1]]}`), 2)
	f.Add([]byte(`{"predictions":[1,2,3]}`), 3)
	f.Add([]byte(`{"predictions":[[[1]],[[2]]]}`), 2)
	f.Add([]byte(`{"predictions":[]}`), 0)
	f.Add([]byte(`{"error":"x"}`), 1)
	out := newTFOutput(inference.TensorSpec{Name: "p", Datatype: inference.FP32})
	f.Fuzz(func(t *testing.T, body []byte, rows int) {
		got, _, err := decodePredictions(body, rows, &out, nil)
		if err != nil {
			return
		}
		if len(got) != 1 || got[0].Validate() != nil || len(got[0].Shape) == 0 || got[0].Shape[0] != int64(rows) {
			t.Fatalf("accepted %q as %+v", body, got)
		}
	})
}
