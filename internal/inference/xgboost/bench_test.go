package xgboost

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// benchInput tiles the breast_cancer rows into an FP32 [rows, 30] tensor.
func benchInput(b *testing.B, rows, threads int) (*Booster, inference.Tensor) {
	fx := readFixture(b, examplesDir, "breast_cancer")
	m := mustLoad(b, fx.model, inference.LoadOptions{Threads: threads})
	x := make([]float32, 0, rows*30)
	for r := 0; r < rows; r++ {
		for _, v := range fx.rows[r%len(fx.rows)] {
			x = append(x, float32(v))
		}
	}
	return m, inference.Tensor{Name: "input", Datatype: inference.FP32, Shape: []int64{int64(rows), 30}, F32: x}
}

func benchPredict(b *testing.B, rows, threads int) {
	m, in := benchInput(b, rows, threads)
	ctx := context.Background()
	inputs := []inference.Tensor{in}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := m.Predict(ctx, inputs); err != nil {
			b.Fatal(err)
		}
	}
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		// CPU time per row, over all goroutines: steadier than rows/s
		// when other processes share the cores.
		b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/total, "cpu-ns/row")
	}
}

// BenchmarkPredict1Row is the latency of one online request.
func BenchmarkPredict1Row(b *testing.B) { benchPredict(b, 1, 0) }

// BenchmarkPredict1000Rows is a batch, split across GOMAXPROCS goroutines.
func BenchmarkPredict1000Rows(b *testing.B) { benchPredict(b, 1000, 0) }

// BenchmarkPredict100kRows matches bench/xgboost/predict_bench.py.
func BenchmarkPredict100kRows(b *testing.B) { benchPredict(b, 100_000, 0) }

// BenchmarkPredict100kRows1Thread is the single-goroutine cost, to compare
// with predict_bench.py --threads 1.
func BenchmarkPredict100kRows1Thread(b *testing.B) { benchPredict(b, 100_000, 1) }

func BenchmarkLoad(b *testing.B) {
	fx := readFixture(b, examplesDir, "breast_cancer")
	b.SetBytes(int64(len(fx.model)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Format{}).Load(context.Background(), fx.model, inference.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
