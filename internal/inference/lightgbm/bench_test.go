package lightgbm

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// The benchmarks score the Poisson model (100 trees of 32 leaves with
// categorical splits, 9 features) on its 1000 reference rows.

func benchPredict(b *testing.B, n int) {
	m := loadReference(b, reference{model: "genlin_fmtp_poisson_Frequency.model"})
	rows := readRows(b, "genlin_fmtp_poisson_Frequency_features.tsv", false, 9)[:n]
	flat := make([]float64, 0, n*9)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	in := []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{int64(n), 9}, F64: flat}}
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

func BenchmarkPredict1Row(b *testing.B)     { benchPredict(b, 1) }
func BenchmarkPredict1000Rows(b *testing.B) { benchPredict(b, 1000) }

func BenchmarkLoad(b *testing.B) {
	artifact := readFile(b, "genlin_fmtp_poisson_Frequency.model")
	b.SetBytes(int64(len(artifact)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Format{}).Load(context.Background(), artifact, inference.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
