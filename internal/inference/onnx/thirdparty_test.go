//go:build cgo

package onnx

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

// The models in testdata/onnxruntime_go come from onnxruntime_go's own
// test_data; the expected outputs below are the ones its tests check.

// sklearnRF holds the inputs and outputs TestSklearnNetwork checks for
// sklearn_randomforest.onnx (a RandomForestClassifier on iris, exported
// with skl2onnx, ZipMap on).
var sklearnRF = struct {
	rows   [][]float64
	labels []int64
	probs  [][]float64
}{
	rows: [][]float64{
		{5.9, 3.0, 5.1, 1.8}, {6.8, 2.8, 4.8, 1.4}, {6.3, 2.3, 4.4, 1.3},
		{6.5, 3.0, 5.5, 1.8}, {7.7, 2.8, 6.7, 2.0}, {5.5, 2.5, 4.0, 1.3},
	},
	labels: []int64{2, 1, 1, 2, 2, 1},
	probs: [][]float64{
		{0.0, 0.12999998033046722, 0.8699994683265686},
		{0.0, 0.7699995636940002, 0.23000003397464752},
		{0.0, 0.969999372959137, 0.029999999329447746},
		{0.0, 0.0, 0.9999993443489075},
		{0.0, 0.0, 0.9999993443489075},
		{0.0, 0.9999993443489075, 0.0},
	},
}

func TestSklearnRandomForest(t *testing.T) {
	m := load(t, "testdata/onnxruntime_go/sklearn_randomforest.onnx", inference.LoadOptions{})
	sig := m.Signature()
	if got := fmt.Sprintf("%s %s %v %d | %s %s %v | %s %s %v %v", sig.Inputs[0].Name, sig.Inputs[0].Datatype, sig.Inputs[0].Shape, len(sig.Inputs[0].Features),
		sig.Outputs[0].Name, sig.Outputs[0].Datatype, sig.Outputs[0].Shape,
		sig.Outputs[1].Name, sig.Outputs[1].Datatype, sig.Outputs[1].Shape, sig.Outputs[1].Labels); got != "X FP32 [-1 4] 4 | output_label INT64 [-1] | output_probability FP32 [-1 3] [0 1 2]" {
		t.Errorf("signature = %s", got)
	}
	flat := make([]float64, 0, 24)
	for _, r := range sklearnRF.rows {
		flat = append(flat, r...)
	}
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "X", Datatype: inference.FP64, Shape: []int64{6, 4}, F64: flat}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out[0].I64) != fmt.Sprint(sklearnRF.labels) || fmt.Sprint(out[0].Shape) != "[6]" {
		t.Errorf("output_label = %v %v, want %v", out[0].Shape, out[0].I64, sklearnRF.labels)
	}
	if fmt.Sprint(out[1].Shape) != "[6 3]" {
		t.Fatalf("output_probability shape = %v, want [6 3]", out[1].Shape)
	}
	for i, row := range sklearnRF.probs {
		for j, want := range row {
			if got := float64(out[1].F32[i*3+j]); math.Abs(got-want) > 1e-6 {
				t.Errorf("probability[%d][%d] = %g, want %g", i, j, got, want)
			}
		}
	}

	// With the probabilities chosen as the output, the model is a tabular
	// classifier like any other.
	m = load(t, "testdata/onnxruntime_go/sklearn_randomforest.onnx", inference.LoadOptions{Signature: &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "X", Datatype: inference.FP32, Features: []inference.Feature{{Name: "sepal_length"}, {Name: "sepal_width"}, {Name: "petal_length"}, {Name: "petal_width"}}}},
		Outputs: []inference.TensorSpec{{Name: "output_probability", Datatype: inference.FP32, Labels: []string{"setosa", "versicolor", "virginica"}}},
	}})
	if got := m.Signature().Outputs; len(got) != 1 || fmt.Sprint(got[0].Labels) != "[setosa versicolor virginica]" {
		t.Errorf("selected outputs = %+v", got)
	}
	inferencetest.Run(t, inferencetest.Case{Model: m, Rows: sklearnRF.rows, Want: sklearnRF.probs, Tol: 1e-6})
}

func TestMultitype(t *testing.T) {
	// UINT8 [1,1,1] and DOUBLE [1,2,2] in; INT16 (B*A - 512) and INT64
	// (A*1234) out, as onnxruntime_go's getExpectedMultitypeOutputs.
	m := load(t, "testdata/onnxruntime_go/example_multitype.onnx", inference.LoadOptions{})
	b := []float64{0.25, 0.5, 0.75, 1.0}
	for _, a := range []inference.Tensor{
		{Name: "InputA", Datatype: inference.UINT8, Shape: []int64{1, 1, 1}, I64: []int64{200}},
		{Name: "InputA", Datatype: inference.INT64, Shape: []int64{1, 1, 1}, I64: []int64{200}},
		{Name: "InputA", Datatype: inference.FP64, Shape: []int64{1, 1, 1}, F64: []float64{200}},
	} {
		out, err := m.Predict(context.Background(), []inference.Tensor{
			{Name: "InputB", Datatype: inference.FP64, Shape: []int64{1, 2, 2}, F64: b}, a,
		})
		if err != nil {
			t.Fatalf("%s input: %v", a.Datatype, err)
		}
		wantA := make([]int64, 4)
		for i, v := range b {
			wantA[i] = int64(int16(v*200 - 512))
		}
		if out[0].Datatype != inference.INT16 || fmt.Sprint(out[0].I64) != fmt.Sprint(wantA) {
			t.Errorf("%s input: OutputA = %s %v, want INT16 %v", a.Datatype, out[0].Datatype, out[0].I64, wantA)
		}
		if out[1].Datatype != inference.INT64 || fmt.Sprint(out[1].I64) != "[246800]" || fmt.Sprint(out[1].Shape) != "[1 1 1]" {
			t.Errorf("%s input: OutputB = %s %v %v, want INT64 [1 1 1] [246800]", a.Datatype, out[1].Datatype, out[1].Shape, out[1].I64)
		}
	}
	_, err := m.Predict(context.Background(), []inference.Tensor{
		{Name: "InputA", Datatype: inference.INT64, Shape: []int64{1, 1, 1}, I64: []int64{256}},
		{Name: "InputB", Datatype: inference.FP64, Shape: []int64{1, 2, 2}, F64: b},
	})
	wantInputError(t, err, "InputA.data[0]")
}

func TestFloat16Network(t *testing.T) {
	// FLOAT16 [1,2,2,2] in, BFLOAT16 out: the input times 3.
	m := load(t, "testdata/onnxruntime_go/example_float16.onnx", inference.LoadOptions{})
	sig := m.Signature()
	if sig.Inputs[0].Datatype != inference.FP16 || sig.Outputs[0].Datatype != inference.FP32 {
		t.Errorf("signature %+v: want FP16 in, FP32 (from BFLOAT16) out", sig)
	}
	for _, dt := range []inference.Datatype{inference.FP16, inference.FP32} {
		out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "InputA", Datatype: dt, Shape: []int64{1, 2, 2, 2}, F32: []float32{0, 1, 2, 3, 4, 5, 6, 7}}})
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if fmt.Sprint(out[0].F32) != "[0 3 6 9 12 15 18 21]" || fmt.Sprint(out[0].Shape) != "[1 2 2 2]" {
			t.Errorf("%s: output %v %v, want [1 2 2 2] [0 3 6 ... 21]", dt, out[0].Shape, out[0].F32)
		}
	}
}

func TestDynamicAxes(t *testing.T) {
	// [-1, 10] in, [-1] out: the sum of each row.
	m := load(t, "testdata/onnxruntime_go/example_dynamic_axes.onnx", inference.LoadOptions{})
	for _, n := range []int{1, 11, 99} {
		data := make([]float32, n*10)
		want := make([]float32, n)
		for i := range data {
			data[i] = float32(i%17) / 4
			want[i/10] += data[i]
		}
		out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "input_vectors", Datatype: inference.FP32, Shape: []int64{int64(n), 10}, F32: data}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(float64(out[0].F32[i]-want[i])) > 1e-4 {
				t.Fatalf("batch %d: sum %d = %g, want %g", n, i, out[0].F32[i], want[i])
			}
		}
	}
	// One row may be sent as [10].
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "input_vectors", Datatype: inference.FP32, Shape: []int64{10}, F32: make([]float32, 10)}})
	if err != nil || fmt.Sprint(out[0].Shape) != "[1]" {
		t.Errorf("[10] input: %v %v, want shape [1]", out, err)
	}
}

func TestZeroDimOutput(t *testing.T) {
	// A [2, 8] input of zeros gives a [2, 0, 8] output.
	m := load(t, "testdata/onnxruntime_go/example_0_dim_output.onnx", inference.LoadOptions{})
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{2, 8}, F32: make([]float32, 16)}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out[0].Shape) != "[2 0 8]" || len(out[0].F32) != 0 {
		t.Errorf("output %v with %d values, want [2 0 8] and none", out[0].Shape, len(out[0].F32))
	}
}

// TestSignatureReload loads a model with the signature a previous load
// returned, as the registry does for versions pushed with a signature: the
// result must be the same signature.
func TestSignatureReload(t *testing.T) {
	first := load(t, "testdata/onnxruntime_go/sklearn_randomforest.onnx", inference.LoadOptions{Signature: &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "iris", Datatype: inference.FP32, Features: []inference.Feature{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}, AllowMissing: true}},
		Outputs: []inference.TensorSpec{{Name: "output_probability", Datatype: inference.FP32}, {Name: "output_label", Datatype: inference.INT64}},
	}}).Signature()
	b, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	var stored inference.Signature
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	second := load(t, "testdata/onnxruntime_go/sklearn_randomforest.onnx", inference.LoadOptions{Signature: &stored}).Signature()
	if !reflect.DeepEqual(first, second) {
		t.Errorf("reloaded signature\n%+v\nwant\n%+v", second, first)
	}
	if first.Inputs[0].Name != "iris" || first.Outputs[0].Name != "output_probability" || len(first.Outputs[0].Labels) != 3 {
		t.Errorf("signature %+v", first)
	}
}
