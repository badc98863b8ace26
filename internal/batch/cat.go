package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Copy converts a table between formats without scoring it: every column
// of in is written to out. Numbers in text inputs stay numbers in a Parquet
// output (a column whose values all parse as integers is INT64, as numbers
// DOUBLE, else STRING). A file out is written beside it under a temporary
// name and published through LocalFS when complete, so it never holds part
// of a table. Writing to out = "-" writes CSV or JSON Lines (outFormat) to
// w; `sluice batch cat` uses it to show results.
func Copy(ctx context.Context, fsys FS, in, inFormat, out, outFormat string, w io.Writer) error {
	if fsys == nil {
		fsys = LocalFS{}
	}
	var err error
	if inFormat == "" {
		if inFormat, err = FormatOf(in, "input"); err != nil {
			return err
		}
	}
	if outFormat == "" {
		if outFormat, err = FormatOf(out, "output"); err != nil {
			return err
		}
	}
	// Open once to learn the columns, then again with all of them kept.
	probe, err := openInput(ctx, fsys, in, inFormat, &Plan{AllowMissing: true}, Position{}, Range{}, 1024)
	if err != nil {
		return err
	}
	cols := probe.Columns()
	probe.Close()
	plan := &Plan{AllowMissing: true, Keep: cols}
	input, err := openInput(ctx, fsys, in, inFormat, plan, Position{}, Range{}, 16384)
	if err != nil {
		return err
	}
	defer input.Close()

	var dst io.Writer = w
	// f is the work file: the table (text) or its spool (Parquet).
	var f *os.File
	if out != "-" {
		if f, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp"); err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		dst = f
	} else if outFormat == FormatParquet {
		return errors.New("cannot write Parquet to standard output; name a file")
	}
	enc := newEncoder(outFormat)
	if _, err := dst.Write(enc.header(cols)); err != nil {
		return err
	}
	kinds := make([]Kind, len(cols))
	var fr Frame
	s := &scores{}
	for {
		c, err := input.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := c.Decode(&fr); err != nil {
			return err
		}
		if inFormat == FormatCSV {
			for k := range fr.Kept {
				for i, v := range fr.Kept[k] {
					fr.Kept[k][i] = typedText(v)
				}
			}
		}
		s.idx = s.idx[:0]
		for range fr.Rows {
			s.idx = append(s.idx, 0)
		}
		for k := range fr.Kept {
			for _, v := range fr.Kept[k] {
				kinds[k] = unionKind(kinds[k], v.Kind)
			}
		}
		if _, err := dst.Write(enc.rows(nil, &fr, s, cols, nil)); err != nil {
			return err
		}
	}
	if f == nil {
		return nil
	}
	if outFormat != FormatParquet {
		if err := f.Chmod(0o644); err != nil { // CreateTemp's is 0600
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return publishFile(ctx, LocalFS{}, f.Name(), out)
	}
	if err := f.Close(); err != nil {
		return err
	}
	oc := make([]OutputColumn, len(cols))
	for i, c := range cols {
		oc[i] = OutputColumn{Name: c, Kind: kinds[i]}
	}
	pq := f.Name() + ".parquet"
	defer os.Remove(pq)
	if err := writeParquet(f.Name(), pq, oc); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return publishFile(ctx, LocalFS{}, pq, out)
}

// typedText reads a text value as an integer or a number when it is one.
func typedText(v Value) Value {
	if v.Kind != KindString {
		return v
	}
	if i, err := strconv.ParseInt(v.S, 10, 64); err == nil {
		return Value{Kind: KindInt, I: i}
	}
	if f, err := strconv.ParseFloat(v.S, 64); err == nil {
		return Value{Kind: KindFloat, F: f}
	}
	return v
}
