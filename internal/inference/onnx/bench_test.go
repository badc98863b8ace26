//go:build cgo

package onnx

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// benchInput returns n rows of the MLP fixture as the FP64 [n, 30] tensor
// the gateway sends.
func benchInput(b *testing.B, n int, opts inference.LoadOptions) (*Model, []inference.Tensor) {
	fx := readMLP(b)
	m := load(b, fx.model, opts)
	flat := make([]float64, 0, n*30)
	for i := 0; i < n; i++ {
		flat = append(flat, fx.rows[i%len(fx.rows)]...)
	}
	return m, []inference.Tensor{{Name: fx.input, Datatype: inference.FP64, Shape: []int64{int64(n), 30}, F64: flat}}
}

func benchPredict(b *testing.B, n int, opts inference.LoadOptions) {
	m, in := benchInput(b, n, opts)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Predict(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

// The default session uses GOMAXPROCS intra-op threads.
func BenchmarkPredict1Row(b *testing.B)     { benchPredict(b, 1, inference.LoadOptions{}) }
func BenchmarkPredict1000Rows(b *testing.B) { benchPredict(b, 1000, inference.LoadOptions{}) }

// BenchmarkPredict1000RowsOneThread is the batch on one intra-op thread.
func BenchmarkPredict1000RowsOneThread(b *testing.B) {
	benchPredict(b, 1000, inference.LoadOptions{Threads: 1})
}

// BenchmarkPredict1RowParallel runs single rows from GOMAXPROCS goroutines
// on one session.
func BenchmarkPredict1RowParallel(b *testing.B) {
	m, in := benchInput(b, 1, inference.LoadOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Predict(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
