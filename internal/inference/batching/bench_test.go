package batching

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// clients is the number of concurrent callers in the benchmarks.
const clients = 32

// directRate holds the last direct rows/s of each model, for the batched
// sub-benchmark's ratio.
var directRate = map[string]float64{}

// BenchmarkBatching scores single-row requests from 32 concurrent
// clients, calling the runtime directly and through the batcher, and
// reports rows per second; the batched runs also report their ratio to
// the direct one ("x-direct").
func BenchmarkBatching(b *testing.B) {
	for _, tc := range []struct {
		name string
		load func(testing.TB) fixture
	}{{"xgboost", loadXGBoost}, {"onnx", loadONNX}} {
		b.Run(tc.name, func(b *testing.B) {
			fx := tc.load(b)
			b.Run("direct", func(b *testing.B) {
				directRate[tc.name] = benchClients(b, fx.model, fx)
			})
			for _, v := range []struct {
				name string
				cfg  Config
			}{
				{"batched", Config{MaxBatchRows: 64}},
				// A timed wait pays only when groups fill before it ends.
				{"batched-16rows-wait1ms", Config{MaxBatchRows: 16, MaxWait: time.Millisecond}},
			} {
				b.Run(v.name, func(b *testing.B) {
					// noClose: the fixture outlives this batcher.
					m := Wrap(noClose{fx.model}, v.cfg).(*Model)
					defer m.Close()
					rate := benchClients(b, m, fx)
					if d := directRate[tc.name]; d > 0 {
						b.ReportMetric(rate/d, "x-direct")
					}
				})
			}
		})
	}
}

// benchClients runs b.N single-row predictions from clients goroutines
// and reports and returns rows per second.
func benchClients(b *testing.B, m inference.Model, fx fixture) float64 {
	inputs := make([][]inference.Tensor, 64)
	for i := range inputs {
		inputs[i] = []inference.Tensor{fx.tensor(fx.rows[i%len(fx.rows)])}
	}
	var next atomic.Int64
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		ctx := context.Background()
		for pb.Next() {
			if _, err := m.Predict(ctx, inputs[i%len(inputs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "rows/s")
	return rate
}

// noClose hides the wrapped model's Close method.
type noClose struct{ inference.Model }
