package oip

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicehq/sluice/internal/inference"
)

// cmpTensors compares decoded values: floats bit for bit except that any
// NaN equals any NaN, and nil equals empty.
var cmpTensors = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
	}),
	cmp.Comparer(func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
	}),
}

// requestSeeds are bodies that reach every branch of the request decoder;
// the fuzzer starts from them (and from testdata/fuzz).
var requestSeeds = []string{
	`{"id":"42","inputs":[{"name":"input0","shape":[2,2],"datatype":"UINT32","data":[1,2,3,4]},{"name":"input1","shape":[3],"datatype":"BOOL","data":[true,false,true]}],"outputs":[{"name":"output0"}]}`,
	`{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1.5,-2e-3],[3E+2,null]]}]}`,
	`{"inputs":[{"data":[1,2,3],"shape":[3],"name":"x","datatype":"INT8"}]}`,
	`{"inputs":[{"name":"x","datatype":"FP64","data":[[[1],[2]]],"shape":[1,2,1]}]}`,
	`{"inputs":[{"name":"b","shape":[2],"datatype":"BYTES","data":["a\u00e9\ud83d\ude00\n","\ud800"]}]}`,
	`{"inputs":[{"name":"u","shape":[4],"datatype":"UINT64","data":[0,-0,18446744073709551615,1]},{"name":"i","shape":[1],"datatype":"INT64","data":[-9223372036854775808]}]}`,
	`{"inputs":[{"name":"h","shape":[2],"datatype":"FP16","data":[65504,-1.5]},{"name":"s","shape":[0,3],"datatype":"INT16","data":[]}]}`,
	`{"inputs":[{"name":"e","shape":[2,0],"datatype":"UINT16","data":[[],[]]},{"name":"z","shape":[],"datatype":"FP32","data":[7]}]}`,
	`{"parameters":{"a":1,"b":1.5,"c":"s","d":true,"e":null,"f":{"g":[1,{}]}},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"content_type":"np"}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}],"extension":{"x":[1,2]}}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}`,
	`{"inputs":[{"name":"x","shape":[3],"datatype":"UINT8","data":[1,300,2.5]}]}`,
	`{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]},{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`,
	`{"id":null,"parameters":null,"outputs":null,"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1],"parameters":null}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1],"name":"y"}]}`,
	`{"inputs":[{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],3]}]}`,
	`{"inputs":[{"name":"x","shape":[1e400],"datatype":"FP64","data":[1e400]}]}`,
	`{"inputs":[]}`, `[]`, `{}`, ``, ` {"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[false]}]} `,
}

// instanceSeeds are bodies for the instances decoder, whose features are
// a, b and c (or x alone).
var instanceSeeds = []string{
	`{"instances":[{"a":1,"b":2.5,"c":-3e2},{"c":1,"a":true,"b":false}]}`,
	`{"instances":[[1,2,3],[4,null,6]]}`,
	`{"inputs":[{"a":1,"b":2,"c":null}],"signature_name":"serving_default"}`,
	`{"instances":[{"a":1,"b":2}]}`,
	`{"instances":[{"a":1,"b":2,"c":3,"d":4}]}`,
	`{"instances":[{"a":"1","b":2,"c":3}]}`,
	`{"instances":[{"a":1,"a":2,"b":2,"c":3}]}`,
	`{"instances":[1,2,null]}`,
	`{"instances":[],"inputs":[]}`,
	`{"instances":{"a":[1]}}`, `{"inputs":{"a":[1]}}`,
	`{"instances":[[1,2]]}`, `{"instances":[[1,2,3,4]]}`,
	`{"instances":[{"a":1e400,"b":0,"c":0}]}`,
}

func FuzzDecodeInferRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), uint16(0))
		f.Add([]byte(s), uint16(3))
	}
	g := gen{rand.New(rand.NewPCG(9, 10))}
	for range 200 {
		f.Add([]byte(g.request()), uint16(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, limit uint16) {
		lim := Limits{MaxElements: int(limit)}
		got, err := DecodeInferRequest(body, lim)
		want, wantErr := refDecodeInferRequest(body, lim, true)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeInferRequest(%q): error %v; reference decoder: %v", body, err, wantErr)
		}
		if err != nil {
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInferRequest(%q): error %v is a %T, want *inference.InputError", body, err, err)
			}
			return
		}
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("DecodeInferRequest(%q) differs from the reference (-ref +fast):\n%s", body, diff)
		}
		for _, in := range got.Inputs {
			if err := in.Validate(); err != nil {
				t.Fatalf("DecodeInferRequest(%q) returned an invalid tensor: %v", body, err)
			}
		}
		checkRoundTrip(t, got, lim)
	})
}

// checkRoundTrip encodes the decoded inputs as a response and as a new
// request: the response must be valid JSON and the request must decode to
// the same tensors.
func checkRoundTrip(t *testing.T, req *InferRequest, lim Limits) {
	t.Helper()
	resp := AppendInferResponse(nil, &InferResponse{ModelName: "m", ID: req.ID, Parameters: req.Parameters.Map(), Outputs: req.Inputs})
	if !json.Valid(resp) {
		t.Fatalf("AppendInferResponse wrote invalid JSON: %s", resp)
	}
	body := []byte(`{"inputs":[`)
	for i := range req.Inputs {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendTensor(body, &req.Inputs[i])
	}
	body = append(body, "]}"...)
	again, err := DecodeInferRequest(body, lim)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", body, err)
	}
	if diff := cmp.Diff(req.Inputs, again.Inputs, cmpTensors...); diff != "" {
		t.Fatalf("encode then decode changed the tensors (-before +after):\n%s\nencoded: %s", diff, body)
	}
}

func fuzzSpec(single, allowMissing bool) inference.TensorSpec {
	spec := inference.TensorSpec{Name: "input", Datatype: inference.FP64, AllowMissing: allowMissing,
		Features: []inference.Feature{{Name: "a"}, {Name: "b", Type: "int"}, {Name: "c", Type: "categorical"}}}
	if single {
		spec.Features = []inference.Feature{{Name: "x"}}
	}
	return spec
}

func FuzzDecodeInstances(f *testing.F) {
	for _, s := range instanceSeeds {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
		f.Add([]byte(s), false, true)
	}
	g := gen{rand.New(rand.NewPCG(11, 12))}
	for range 100 {
		single := g.chance(0.3)
		f.Add([]byte(g.instances(single)), g.chance(0.5), single)
	}
	f.Fuzz(func(t *testing.T, body []byte, allowMissing, single bool) {
		spec := fuzzSpec(single, allowMissing)
		lim := Limits{MaxElements: 1000}
		got, err := DecodeInstances(body, spec, lim)
		want, wantErr := refDecodeInstances(body, spec, lim, true)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeInstances(%q): error %v; reference decoder: %v", body, err, wantErr)
		}
		if err != nil {
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInstances(%q): error %v is a %T, want *inference.InputError", body, err, err)
			}
			return
		}
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("DecodeInstances(%q) differs from the reference (-ref +fast):\n%s", body, diff)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("DecodeInstances(%q) returned an invalid tensor: %v", body, err)
		}
		preds := AppendPredictions(nil, got, 3)
		if !json.Valid(preds) {
			t.Fatalf("AppendPredictions wrote invalid JSON: %s", preds)
		}
	})
}
