package batch

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File is an input file: read sequentially or at offsets.
type File interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
}

// FS opens inputs. LocalFS is the local file system; an object store
// implements the same two methods. Outputs go the other way, through a
// Publisher: a run appends to its output, rejects and checkpoint files on
// the local file system, whose appends, fsync and rename make it
// crash-safe, and publishes the output and rejects file when they are
// complete.
type FS interface {
	// Open opens path for reading and returns its size.
	Open(ctx context.Context, path string) (File, int64, error)
	// Stat returns a file's size and modification time as a fingerprint
	// that changes when the file does.
	Stat(ctx context.Context, path string) (Fingerprint, error)
}

// Fingerprint identifies one state of an input file, so a resume can refuse
// an input that changed since the interrupted run.
type Fingerprint struct {
	Size    int64 `json:"size"`
	ModTime int64 `json:"mod_time_ns"`
}

// LocalFS is the local file system.
type LocalFS struct{}

var _ FS = LocalFS{}

// Open opens a local file.
func (LocalFS) Open(_ context.Context, path string) (File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a directory", path)
	}
	return f, st.Size(), nil
}

// Stat returns a local file's fingerprint.
func (LocalFS) Stat(_ context.Context, path string) (Fingerprint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Fingerprint{}, err
	}
	return Fingerprint{Size: st.Size(), ModTime: st.ModTime().UnixNano()}, nil
}

// Format names a file format.
const (
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// FormatOf returns the format named by a path's extension (.csv, .jsonl,
// .ndjson, .json, .parquet, .pq), or the error naming flag.
func FormatOf(path, flag string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".csv", ".tsv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		return FormatParquet, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format of %q from its extension %q; use .csv, .jsonl or .parquet, or pass the format", flag, path, ext)
}

// checkFormat validates an explicit format name.
func checkFormat(name, flag string) error {
	switch name {
	case FormatCSV, FormatJSONL, FormatParquet:
		return nil
	}
	return fmt.Errorf("%s: %q is not one of csv, jsonl, parquet", flag, name)
}

// Input reads a table in chunks. Next is called from one goroutine; the
// chunks it returns are decoded concurrently.
type Input interface {
	// Columns are the input's column names.
	Columns() []string
	// Next returns the next chunk, or io.EOF after the last.
	Next(ctx context.Context) (Chunk, error)
	// Progress returns how far Next has read and how far there is to go,
	// in bytes (text) or rows (Parquet).
	Progress() (done, total int64)
	Close() error
}

// Chunk is a part of the input that decodes on its own.
type Chunk interface {
	// Decode fills f with the chunk's rows.
	Decode(f *Frame) error
	// End is the input position just after the chunk.
	End() Position
}

// Position is a place in an input: the byte offset and line number of the
// next record in a text file, or the index of the next row in a Parquet
// file. A Position is where a resumed run starts reading.
type Position struct {
	Offset int64 `json:"offset"`
	Line   int64 `json:"line"`
	Row    int64 `json:"row"`
}

// Range limits a run to part of its input: a shard. Start and End are byte
// offsets (text; each is moved to the next record boundary, so adjacent
// ranges split a file exactly) or row indexes (Parquet). End 0 is the end of
// the input.
type Range struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// openInput opens path in format for plan, positioned at pos (zero: the
// first record), limited to rng.
func openInput(ctx context.Context, fsys FS, path, format string, plan *Plan, pos Position, rng Range, chunkRows int) (Input, error) {
	f, size, err := fsys.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("opening input: %w", err)
	}
	var in Input
	switch format {
	case FormatCSV:
		in, err = newCSVInput(f, size, path, plan, pos, rng, chunkRows)
	case FormatJSONL:
		in, err = newJSONLInput(f, size, plan, pos, rng, chunkRows)
	case FormatParquet:
		in, err = newParquetInput(f, size, plan, pos, rng, chunkRows)
	default:
		err = checkFormat(format, "input format")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return in, nil
}
