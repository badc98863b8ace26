package oip

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

// fraudSpec is a tabular input with three features.
func fraudSpec(allowMissing bool) inference.TensorSpec {
	return inference.TensorSpec{
		Name:         "input",
		Datatype:     inference.FP64,
		Shape:        []int64{-1, 3},
		AllowMissing: allowMissing,
		Features:     []inference.Feature{{Name: "amount"}, {Name: "age", Type: "int"}, {Name: "merchant", Type: "categorical"}},
	}
}

func TestDecodeInstances(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name         string
		body         string
		allowMissing bool
		want         []float64 // rows of 3
	}{
		{"objects in feature order", `{"instances":[{"amount":12.5,"age":40,"merchant":7}]}`, false, []float64{12.5, 40, 7}},
		{"objects in any order", `{"instances":[{"merchant":7,"amount":12.5,"age":40},{"age":1,"merchant":2,"amount":3}]}`, false, []float64{12.5, 40, 7, 3, 1, 2}},
		{"positional rows", `{"instances":[[1,2,3],[4,5,6]]}`, false, []float64{1, 2, 3, 4, 5, 6}},
		{"mixed rows", `{"instances":[[1,2,3],{"amount":4,"age":5,"merchant":6}]}`, false, []float64{1, 2, 3, 4, 5, 6}},
		{"booleans", `{"instances":[{"amount":true,"age":false,"merchant":1}]}`, false, []float64{1, 0, 1}},
		{"inputs synonym, other members ignored", `{"signature_name":"serving_default","inputs":[[1,2,3]]}`, false, []float64{1, 2, 3}},
		{"null and absent are missing", `{"instances":[{"amount":null,"merchant":3},[null,2,null]]}`, true, []float64{nan, nan, 3, nan, 2, nan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fraudSpec(tt.allowMissing)
			got, err := DecodeInstances([]byte(tt.body), spec, Limits{})
			if err != nil {
				t.Fatalf("DecodeInstances: %v", err)
			}
			want := inference.Tensor{Name: "input", Datatype: inference.FP64, Shape: []int64{int64(len(tt.want) / 3), 3}, F64: tt.want}
			if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
				t.Errorf("DecodeInstances mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeInstancesSingleFeature(t *testing.T) {
	spec := inference.TensorSpec{Name: "x", Features: []inference.Feature{{Name: "v"}}}
	got, err := DecodeInstances([]byte(`{"instances":[1.5,{"v":2},[3],true]}`), spec, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := inference.Tensor{Name: "x", Datatype: inference.FP64, Shape: []int64{4, 1}, F64: []float64{1.5, 2, 3, 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeInstances mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeInstancesWide(t *testing.T) {
	// More than 16 features: the lookup falls back to a map.
	spec := inference.TensorSpec{Name: "x"}
	var row []string
	for j := range 40 {
		spec.Features = append(spec.Features, inference.Feature{Name: fmt.Sprintf("f%d", j)})
		row = append(row, fmt.Sprintf(`"f%d":%d`, 39-j, 39-j)) // reverse order
	}
	body := `{"instances":[{` + strings.Join(row, ",") + `}]}`
	got, err := DecodeInstances([]byte(body), spec, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range got.F64 {
		if v != float64(j) {
			t.Fatalf("feature %d = %v, want %d", j, v, j)
		}
	}
	if _, err := DecodeInstances([]byte(`{"instances":[{"f40":1}]}`), spec, Limits{}); err == nil || !strings.Contains(err.Error(), `unknown feature "f40" (did you mean`) {
		t.Errorf("unknown feature in a wide row: %v", err)
	}
}

func TestDecodeInstancesErrors(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		allowMissing bool
		field        string
		msg          string
	}{
		{"not JSON", `{"instances":[`, false, "", "body is not valid JSON: unexpected end of input at offset 14"},
		{"not an object", `[]`, false, "", `body must be a JSON object (with an "instances" array), got an array`},
		{"no instances", `{"rows":[]}`, false, "instances", `required field is missing: the body must be {"instances": [{"feature": value, ...}, ...]}`},
		{"both forms", `{"instances":[[1,2,3]],"inputs":[]}`, false, "", `body has both "instances" and "inputs"; send the rows in one of them`},
		{"duplicate instances", `{"instances":[[1,2,3]],"instances":[]}`, false, "", `duplicate key "instances" at offset 23`},
		{"instances not an array", `{"instances":{}}`, false, "instances", "expected an array of instances, got an object"},
		{"columnar inputs", `{"inputs":{"amount":[1]}}`, false, "inputs", `the columnar form {"inputs": {"feature": [values...]}} is not supported; send rows: {"instances": [{"feature": value, ...}, ...]}`},
		{"empty", `{"instances":[]}`, false, "instances", "at least one instance is required"},
		{"scalar row", `{"instances":[5]}`, false, "instances[0]", "expected an object of features or an array of 3 values, got number 5"},
		{"missing feature", `{"instances":[[1,2,3],[1,2,3],[1,2,3],{"age":2,"merchant":3}]}`, false, "instances[3]", `missing feature "amount": the model does not accept missing values`},
		{"missing feature, inputs", `{"inputs":[{"amount":1,"age":2}]}`, false, "inputs[0]", `missing feature "merchant": the model does not accept missing values`},
		{"unknown feature", `{"instances":[{"amout":1,"age":2,"merchant":3}]}`, false, "instances[0]", `unknown feature "amout" (did you mean "amount"?)`},
		{"unknown feature, case", `{"instances":[{"AMOUNT":1,"age":2,"merchant":3}]}`, false, "instances[0]", `unknown feature "AMOUNT" (did you mean "amount"?)`},
		{"unknown feature, far", `{"instances":[{"zzz":1}]}`, true, "instances[0]", `unknown feature "zzz"`},
		{"tensor sent to the wrong endpoint", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`, false, "inputs[0]", `unknown feature "name": this looks like an Open Inference Protocol tensor; POST it to /v2/models/{model}/infer`},
		{"duplicate feature", `{"instances":[{"amount":1,"amount":2,"age":2,"merchant":3}]}`, false, "instances[0]", `duplicate key "amount"`},
		{"string", `{"instances":[{"amount":"12.5","age":2,"merchant":3}]}`, false, "instances[0].amount", `expected a number, got string "12.5"`},
		{"categorical string", `{"instances":[{"amount":1,"age":2,"merchant":"shop"}]}`, false, "instances[0].merchant", `expected a number, got string "shop" (send categorical values as their numeric codes)`},
		{"array value", `{"instances":[{"amount":[1],"age":2,"merchant":3}]}`, false, "instances[0].amount", "expected a number, got an array"},
		{"null not allowed", `{"instances":[{"amount":null,"age":2,"merchant":3}]}`, false, "instances[0].amount", "null (a missing value) is not accepted: the model does not accept missing values"},
		{"out of range", `{"instances":[{"amount":1e999,"age":2,"merchant":3}]}`, false, "instances[0].amount", "1e999 is out of range for a 64-bit float"},
		{"short row", `{"instances":[[1,2]]}`, false, "instances[0]", "has 2 values, want 3: one per feature (amount, age, merchant)"},
		{"long row", `{"instances":[[1,2,3],[1,2,3,4]]}`, false, "instances[1]", "has 4 values, want 3: one per feature (amount, age, merchant)"},
		{"positional string", `{"instances":[[1,"x",3]]}`, false, "instances[0][1]", `expected a number for feature "age", got string "x"`},
		{"positional null", `{"instances":[[1,2,null]]}`, false, "instances[0][2]", `null (a missing value) is not accepted: the model does not accept missing values for feature "merchant"`},
		{"over the limit", `{"instances":[[1,2,3],[1,2,3],[1,2,3],[1,2,3],[1,2,3]]}`, false, "instances", "has more than 4 rows of 3 features: a request may hold at most 12 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fraudSpec(tt.allowMissing)
			lim := Limits{MaxElements: 12}
			got, err := DecodeInstances([]byte(tt.body), spec, lim)
			if err == nil {
				t.Fatalf("DecodeInstances = %+v, want error %s: %s", got, tt.field, tt.msg)
			}
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("DecodeInstances error %v is a %T, want *inference.InputError", err, err)
			}
			if ie.Field != tt.field || ie.Msg != tt.msg {
				t.Errorf("DecodeInstances error:\n got field %q msg %q\nwant field %q msg %q", ie.Field, ie.Msg, tt.field, tt.msg)
			}
			if _, err := refDecodeInstances([]byte(tt.body), spec, lim, true); err == nil {
				t.Errorf("the reference decoder accepts this body")
			}
		})
	}
}

func TestDecodeInstancesNotTabular(t *testing.T) {
	_, err := DecodeInstances([]byte(`{"instances":[[1]]}`), inference.TensorSpec{Name: "image"}, Limits{})
	var ie *inference.InputError
	if err == nil || errors.As(err, &ie) {
		t.Errorf("DecodeInstances with a spec without features: error %v, want a non-input error", err)
	}
}
