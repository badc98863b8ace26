package remote

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

func TestParseDocument(t *testing.T) {
	got, err := ParseDocument([]byte(`{
  "format": "sluice.remote/v1",
  "urls": ["http://triton-0:8000/v2/models/fraud/", "https://triton-1:8000/v2/models/fraud"],
  "timeout": "250ms",
  "headers": {"Authorization": "Bearer abc"},
  "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2], "features": [{"name": "a"}, {"name": "b", "type": "int"}], "allow_missing": true}],
                "outputs": [{"name": "p", "datatype": "FP32", "shape": [-1, 2], "labels": ["no", "yes"]}]}
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{
		URLs:           []string{"http://triton-0:8000/v2/models/fraud", "https://triton-1:8000/v2/models/fraud"},
		Protocol:       V2,
		Timeout:        250 * time.Millisecond,
		HealthInterval: DefaultHealthInterval,
		Headers:        map[string]string{"Authorization": "Bearer abc"},
		Signature: &inference.Signature{
			Inputs: []inference.TensorSpec{{Name: "x", Datatype: inference.FP32, Shape: []int64{-1, 2},
				Features: []inference.Feature{{Name: "a"}, {Name: "b", Type: "int"}}, AllowMissing: true}},
			Outputs: []inference.TensorSpec{{Name: "p", Datatype: inference.FP32, Shape: []int64{-1, 2}, Labels: []string{"no", "yes"}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseDocument (-want +got):\n%s", diff)
	}
	// Marshal writes what ParseDocument reads.
	b, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseDocument(b)
	if err != nil {
		t.Fatalf("ParseDocument(Marshal()) = %v\n%s", err, b)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestParseDocumentPipeline(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  int
	}{
		{``, 0},
		{`,"pipeline":0`, 0},
		{`,"pipeline":1`, 1},
		{`,"pipeline": 16 `, 16},
		{`,"pipeline":64`, 64},
	} {
		doc := `{"format":"sluice.remote/v1","urls":["http://a/v2/models/m"]` + tc.field + `}`
		d, err := ParseDocument([]byte(doc))
		if err != nil || d.Pipeline != tc.want {
			t.Errorf("ParseDocument(%s) = %v, %v; want pipeline %d", doc, d, err, tc.want)
			continue
		}
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if again, err := ParseDocument(b); err != nil || again.Pipeline != tc.want {
			t.Errorf("ParseDocument(Marshal()) = %v, %v; want pipeline %d\n%s", again, err, tc.want, b)
		}
	}
}

func TestParseDocumentErrors(t *testing.T) {
	const sig = `"signature":{"inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}],"outputs":[{"name":"y","datatype":"FP32"}]}`
	for _, tc := range []struct {
		doc, want string
	}{
		{`[]`, "(document): want an object"},
		{`{"format":"sluice.remote/v1",`, "line 1"},
		{`{"urls":["http://a/v2/models/m"]}`, `format: missing: want "sluice.remote/v1"`},
		{`{"format":"sluice.remote/v9","urls":[]}`, `format: "sluice.remote/v9" is not supported`},
		{`{"format":"sluice.remote/v1"}`, "urls: missing"},
		{`{"format":"sluice.remote/v1","urls":["http://a/v2/models/m"],"url":"x"}`, "url: unknown field"},
		{`{"format":"sluice.remote/v1","urls":["http://a/v2/models/m"],"urls":["http://b/v2/models/m"]}`, "urls: appears twice"},
		{`{"format":"sluice.remote/v1","urls":[]}`, "urls: must list at least one URL"},
		{`{"format":"sluice.remote/v1","urls":"http://a"}`, "urls: want an array, got a string"},
		{`{"format":"sluice.remote/v1","urls":[1]}`, "urls[0]: want a string, got a number"},
		{`{"format":"sluice.remote/v1","urls":["ftp://a/m"]}`, "urls[0]: \"ftp://a/m\": scheme must be http or https"},
		{`{"format":"sluice.remote/v1","urls":["http:///m"]}`, "urls[0]: \"http:///m\": has no host"},
		{`{"format":"sluice.remote/v1","urls":["http://u:p@a/m"]}`, "must not hold credentials"},
		{`{"format":"sluice.remote/v1","urls":["http://a/m?x=1"]}`, "must not have a query"},
		{`{"format":"sluice.remote/v1","urls":["http://a/v2/models/m/infer"]}`, "without /infer"},
		{`{"format":"sluice.remote/v1","urls":["http://a/m","http://a/m/"]}`, `urls[1]: "http://a/m/" is also urls[0]`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"protocol":"grpc"}`, `protocol: "grpc" is not one of`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"timeout":"5"}`, `timeout: "5" is not a duration`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"timeout":"0s"}`, `timeout: must be more than 0`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"timeout":"1h"}`, `timeout: 1h0m0s is outside`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"health_interval":"1ms"}`, `health_interval: 1ms is outside`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"headers":{"Content-Type":"text/plain"}}`, `headers.Content-Type: Content-Type is set by Sluice`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"headers":{"Bad Name":"x"}}`, `is not a valid header name`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"headers":{"X-A":"a\nb"}}`, `headers.X-A: value holds a control character`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"headers":{"X-A":1}}`, `headers.X-A: want a string`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"pipeline":"8"}`, `pipeline: "8" is not a whole number in 0..64`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"pipeline":-1}`, `pipeline: -1 is not a whole number in 0..64`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"pipeline":2.5}`, `pipeline: 2.5 is not a whole number in 0..64`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"pipeline":65}`, `pipeline: 65 is not a whole number in 0..64`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"pipeline":null}`, `pipeline: null is not a whole number in 0..64`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m","HTTPS://b/m"],"pipeline":2}`, `pipeline: needs plain http replicas, and urls[1] is https`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"inputs":[{"name":"x","datatype":"FP32","shape":[-1,"2"]}]}}`, `signature.inputs[0].shape[1]: want a dimension`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"inputs":[{"name":"x","datatype":"FP33"}]}}`, `signature.inputs[0].datatype: unknown datatype "FP33"`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"inputs":[{"name":"x","datatype":"FP32","feature":[]}]}}`, `signature.inputs[0].feature: unknown field`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"inputs":[{"datatype":"FP32"}]}}`, `signature.inputs[0].name: missing`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"inputs":[{"name":"x","datatype":"FP32","features":[{"name":"a","kind":"int"}]}]}}`, `signature.inputs[0].features[0].kind: unknown field`},
		{`{"format":"sluice.remote/v1","urls":["http://a/m"],"signature":{"outputs":[]}}`, `signature.inputs: missing`},
		{`{"format":"sluice.remote/v1","urls":["http://a/v1/models/m"],"protocol":"tfserving"}`, `signature: required for protocol "tfserving"`},
		{`{"format":"sluice.remote/v1","urls":["http://a/v1/models/m:predict"],"protocol":"tfserving",` + sig + `}`, `without :predict`},
		{`{"format":"sluice.remote/v1","urls":["http://a/v1/models/m"],"protocol":"tfserving","signature":{"inputs":[{"name":"x","datatype":"FP32"}]}}`, `signature.outputs: has 0 outputs`},
	} {
		_, err := ParseDocument([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDocument(%s)\n got error %v\nwant one containing %q", tc.doc, err, tc.want)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`{"format":"sluice.remote/v1","urls":["http://a/m"]}`, true},
		{` {"urls":[], "format":"sluice.remote/v2"}`, true},
		{`{"format":"sluice.linear/v1"}`, false},
		{`{"metadata":{"format":"sluice.remote/v1"}}`, false},
		{`{"format":"sluice.remote/v1"`, true}, // Load says what is wrong
		{`not json "sluice.remote/`, false},
		{``, false},
	} {
		if got := (Format{}).Detect([]byte(tc.doc)); got != tc.want {
			t.Errorf("Detect(%s) = %v, want %v", tc.doc, got, tc.want)
		}
	}
}
