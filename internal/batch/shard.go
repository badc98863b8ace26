package batch

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"
)

// Split divides an input into n ranges for n shards: equal byte ranges of
// a text file (each shard moves its edges to record boundaries, so every
// record falls in exactly one shard), or equal row ranges of a Parquet
// file; fewer than n when the input is smaller than n rows or bytes. A text file whose quoted fields hold newlines cannot be split
// reliably: score it as one shard.
func Split(ctx context.Context, fsys FS, path, format string, n int) ([]Range, error) {
	if fsys == nil {
		fsys = LocalFS{}
	}
	if n < 1 {
		return nil, fmt.Errorf("shards: %d is less than 1", n)
	}
	if format == "" {
		var err error
		if format, err = FormatOf(path, "input"); err != nil {
			return nil, err
		}
	}
	f, size, err := fsys.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("opening input: %w", err)
	}
	defer f.Close()
	total := size
	if format == FormatParquet {
		err := guardParquet(func() error {
			pf, err := parquet.OpenFile(f, size, parquet.SkipBloomFilters(true))
			if err != nil {
				return err
			}
			total = pf.NumRows()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: not a readable Parquet file: %w", path, err)
		}
	}
	// Every range but a lone whole-input one must end past 0 (End 0 means
	// "to the end"), so a tiny input gets fewer shards than asked.
	n = int(max(1, min(int64(n), total)))
	rs := make([]Range, n)
	for i := range rs {
		rs[i] = Range{Start: total * int64(i) / int64(n), End: total * int64(i+1) / int64(n)}
	}
	return rs, nil
}
