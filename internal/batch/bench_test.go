package batch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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

// BenchmarkDecodeCSV decodes one 16k-row chunk of the fixture (id plus
// 30 features): the parsing share of a CSV run.
func BenchmarkDecodeCSV(b *testing.B) {
	path := fixtureWithID(b, b.TempDir(), 29) // 16,501 rows
	head, err := os.ReadFile(filepath.Join(fixtureDir, "breast_cancer.csv"))
	if err != nil {
		b.Fatal(err)
	}
	names := strings.Split(string(head[:bytes.IndexByte(head, '\n')]), ",")
	plan := &Plan{Features: names, Keep: []string{"id"}}
	in, err := openInput(context.Background(), LocalFS{}, path, FormatCSV, plan, Position{}, Range{}, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	c, err := in.Next(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var f Frame
	for b.Loop() {
		// Decode gives the chunk's buffer back to the input, which is not
		// read again here: decode a copy of the chunk each time.
		c := *c.(*csvChunk)
		if err := c.Decode(&f); err != nil {
			b.Fatal(err)
		}
	}
	if len(f.Err) > 0 {
		b.Fatalf("rejected rows: %q", f.Err[0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(f.Rows), "ns/row")
}
