package batch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParquetInput feeds damaged Parquet files to the reader: errors,
// never a panic.
func FuzzParquetInput(f *testing.F) {
	dir := f.TempDir()
	src := fixtureWithID(f, dir, 1)
	pq := filepath.Join(dir, "seed.parquet")
	if err := Copy(context.Background(), nil, src, "", pq, "", nil); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(pq)
	f.Add(good, 0, byte(0))
	f.Add(good, len(good)/2, byte(0xff))
	f.Add(good[:len(good)-10], 100, byte(1))
	f.Add([]byte("PAR1garbagePAR1"), 0, byte(0))
	f.Fuzz(func(t *testing.T, data []byte, at int, b byte) {
		data = append([]byte(nil), data...)
		if len(data) > 0 {
			if at < 0 {
				at = -at
			}
			data[at%len(data)] ^= b
		}
		path := filepath.Join(t.TempDir(), "in.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		plan := &Plan{Features: []string{"mean_radius", "mean_texture"}, AllowMissing: true, Keep: []string{"id"}}
		in, err := openInput(context.Background(), LocalFS{}, path, FormatParquet, plan, Position{}, Range{}, 100)
		if err != nil {
			return
		}
		defer in.Close()
		var fr Frame
		for {
			c, err := in.Next(context.Background())
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			if err := c.Decode(&fr); err != nil {
				return
			}
		}
	})
}
