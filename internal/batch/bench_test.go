package batch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// benchInput returns the fixture tiled to about 100k rows as CSV and Parquet.
func benchInput(b *testing.B) (csvPath, pqPath string) {
	dir := b.TempDir()
	csvPath = fixtureWithID(b, dir, 176) // 100,144 rows
	pqPath = filepath.Join(dir, "in.parquet")
	if err := Copy(context.Background(), nil, csvPath, "", pqPath, "", nil); err != nil {
		b.Fatal(err)
	}
	return csvPath, pqPath
}

// BenchmarkFileToFile scores a 100k-row file into another, end to end
// (see bench/batch for the 1M-row comparison with XGBoost).
func BenchmarkFileToFile(b *testing.B) {
	csvPath, pqPath := benchInput(b)
	m := loadModel(b)
	for _, c := range []struct{ name, in, out string }{
		{"csv-csv", csvPath, "csv"}, {"csv-parquet", csvPath, "parquet"},
		{"parquet-parquet", pqPath, "parquet"}, {"parquet-csv", pqPath, "csv"},
	} {
		b.Run(c.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out."+c.out)
			for b.Loop() {
				os.Remove(out)
				if _, err := Run(context.Background(), Spec{Input: c.in, Output: out, IDColumn: "id", MaxRejectRate: 0}, Options{Model: m}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*100144/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkModelAlone scores 1M rows already in memory: the model's share
// of a run.
func BenchmarkModelAlone(b *testing.B) {
	m := loadModelThreads(b, 0)
	sig := m.Signature()
	in, _ := sig.TabularInput()
	base := expectedRows(b)
	const rows = 1_000_000
	x := make([]float32, 0, rows*30)
	for len(x) < rows*30 {
		x = append(x, base...)
	}
	x = x[:rows*30]
	for b.Loop() {
		if _, err := m.Predict(context.Background(), []inference.Tensor{denseInput(in, rows, x)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}
