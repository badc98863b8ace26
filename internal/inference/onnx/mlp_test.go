//go:build cgo

package onnx

import (
	"context"
	"math"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

func TestMLPConformance(t *testing.T) {
	fx := readMLP(t)
	m := load(t, fx.model, inference.LoadOptions{Signature: fx.signature()})
	inferencetest.Run(t, inferencetest.Case{Model: m, Rows: fx.rows, Want: fx.want, Tol: 1e-5})
}

func TestMLPDirect(t *testing.T) {
	fx := readMLP(t)
	m := load(t, fx.model, inference.LoadOptions{})
	flat := make([]float32, 0, len(fx.rows)*len(fx.features))
	for _, r := range fx.rows {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: fx.input, Datatype: inference.FP32, Shape: []int64{int64(len(fx.rows)), int64(len(fx.features))}, F32: flat}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != fx.output || out[0].Datatype != inference.FP32 {
		t.Fatalf("outputs %+v", out)
	}
	maxDiff := 0.0
	for i, w := range fx.want {
		for j, v := range w {
			maxDiff = math.Max(maxDiff, math.Abs(float64(out[0].F32[i*2+j])-v))
		}
	}
	t.Logf("max abs diff over %d rows: %g", len(fx.rows), maxDiff)
	if maxDiff > 1e-5 {
		t.Errorf("max abs diff %g > 1e-5", maxDiff)
	}
}
