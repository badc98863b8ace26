package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// parquetInput reads the top-level columns of a Parquet file, a row range
// at a time, column by column.
type parquetInput struct {
	f      File
	pf     *parquet.File
	cols   []string
	plan   *Plan
	featCI []int // column index per feature, -1 when absent
	keepCI []int // column index per kept column
	rows   int   // rows per chunk

	// Where Next stands: row group g, row r within it; next is the
	// global index of that row and end the range's end.
	g         int
	r, next   int64
	end, base int64
}

// guardParquet runs fn, turning a panic into an error: the Parquet
// library panics on some corrupt files (bad offsets in the footer or page
// headers), and a bad input must never bring down a worker.
func guardParquet(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file: %v", r)
		}
	}()
	return fn()
}

func newParquetInput(f File, size int64, plan *Plan, pos Position, rng Range, chunkRows int) (in *parquetInput, err error) {
	err = guardParquet(func() error {
		in, err = openParquetInput(f, size, plan, pos, rng, chunkRows)
		return err
	})
	return in, err
}

func openParquetInput(f File, size int64, plan *Plan, pos Position, rng Range, chunkRows int) (*parquetInput, error) {
	pf, err := parquet.OpenFile(f, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("not a readable Parquet file: %w", err)
	}
	in := &parquetInput{f: f, pf: pf, plan: plan, rows: chunkRows}
	leafIdx := map[string]int{}
	for ci, path := range pf.Schema().Columns() {
		if len(path) == 1 {
			in.cols = append(in.cols, path[0])
			leafIdx[path[0]] = ci
		}
	}
	var missing []string
	for _, name := range plan.Features {
		ci, ok := leafIdx[name]
		if !ok {
			missing = append(missing, name)
			ci = -1
		}
		in.featCI = append(in.featCI, ci)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the input has no column for the model's feature(s) %s (input columns: %s)", quoteList(missing, 8), quoteList(in.cols, 12))
	}
	for _, name := range plan.Keep {
		ci, ok := leafIdx[name]
		if !ok {
			return nil, fmt.Errorf("kept column %q is not a top-level column of the input (input columns: %s)", name, quoteList(in.cols, 12))
		}
		in.keepCI = append(in.keepCI, ci)
	}
	in.end = pf.NumRows()
	if rng.End > 0 && rng.End < in.end {
		in.end = rng.End
	}
	start := max(pos.Row, rng.Start)
	in.seek(start)
	return in, nil
}

// seek positions Next at global row index row.
func (in *parquetInput) seek(row int64) {
	in.g, in.r, in.next, in.base = 0, 0, 0, 0
	for _, rg := range in.pf.RowGroups() {
		n := rg.NumRows()
		if row < in.base+n {
			break
		}
		in.base += n
		in.g++
	}
	in.r = row - in.base
	in.next = row
}

func (in *parquetInput) Columns() []string { return in.cols }
func (in *parquetInput) Close() error      { return in.f.Close() }
func (in *parquetInput) Progress() (int64, int64) {
	return in.next, in.end
}

func (in *parquetInput) Next(ctx context.Context) (c Chunk, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = guardParquet(func() error {
		c, err = in.nextChunk()
		return err
	})
	return c, err
}

func (in *parquetInput) nextChunk() (Chunk, error) {
	groups := in.pf.RowGroups()
	for in.g < len(groups) && in.r >= groups[in.g].NumRows() {
		in.base += groups[in.g].NumRows()
		in.g++
		in.r = 0
	}
	if in.g >= len(groups) || in.next >= in.end {
		return nil, io.EOF
	}
	rg := groups[in.g]
	n := min(int64(in.rows), rg.NumRows()-in.r, in.end-in.next)
	c := &parquetChunk{in: in, rg: rg, lo: in.r, n: int(n), first: in.next}
	in.r += n
	in.next += n
	c.end = Position{Row: in.next}
	return c, nil
}

type parquetChunk struct {
	in    *parquetInput
	rg    parquet.RowGroup
	lo    int64
	n     int
	first int64
	end   Position
}

func (c *parquetChunk) End() Position { return c.end }

// readColumn calls fn with each of the chunk's values of column ci.
func (c *parquetChunk) readColumn(ci int, fn func(i int, v parquet.Value)) error {
	pages := c.rg.ColumnChunks()[ci].Pages()
	defer pages.Close()
	if err := pages.SeekToRow(c.lo); err != nil {
		return err
	}
	buf := make([]parquet.Value, min(c.n, 4096))
	i := 0
	for i < c.n {
		p, err := pages.ReadPage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("column %q ended after %d of %d rows", c.in.cols[ci], i, c.n)
			}
			return err
		}
		vr := p.Values()
		for i < c.n {
			m, err := vr.ReadValues(buf[:min(len(buf), c.n-i)])
			for _, v := range buf[:m] {
				fn(i, v)
				i++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
	return nil
}

func (c *parquetChunk) Decode(f *Frame) error {
	return guardParquet(func() error { return c.decode(f) })
}

func (c *parquetChunk) decode(f *Frame) error {
	in := c.in
	plan := in.plan
	f.reset(len(plan.Features), len(plan.Keep))
	for i := range c.n {
		f.addRow(c.first + int64(i) + 1)
	}
	nf := len(plan.Features)
	for j, ci := range in.featCI {
		if ci < 0 {
			continue
		}
		name := plan.Features[j]
		if ok, err := c.readNumbers(ci, f.X, j, nf); err != nil {
			return fmt.Errorf("reading column %q: %w", name, err)
		} else if ok {
			continue
		}
		err := c.readColumn(ci, func(i int, v parquet.Value) {
			x, why := parquetFeature(v, plan.AllowMissing, name)
			if why != "" {
				f.rejectRow(i, why)
			}
			f.X[i*nf+j] = x
		})
		if err != nil {
			return fmt.Errorf("reading column %q: %w", name, err)
		}
	}
	for k, ci := range in.keepCI {
		err := c.readColumn(ci, func(i int, v parquet.Value) { f.Kept[k][i] = parquetValue(v) })
		if err != nil {
			return fmt.Errorf("reading column %q: %w", plan.Keep[k], err)
		}
	}
	return nil
}

// readNumbers reads a numeric column without nulls straight from its
// pages' typed data into x[i*stride+j], for the common case of FLOAT,
// DOUBLE, INT32 or INT64 data pages without a dictionary. It reports false,
// having read nothing, when a page is not such a page; the caller then
// reads the column value by value.
func (c *parquetChunk) readNumbers(ci int, x []float32, j, stride int) (bool, error) {
	pages := c.rg.ColumnChunks()[ci].Pages()
	defer pages.Close()
	if err := pages.SeekToRow(c.lo); err != nil {
		return false, err
	}
	i := 0
	for i < c.n {
		p, err := pages.ReadPage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, fmt.Errorf("ended after %d of %d rows", i, c.n)
			}
			return false, err
		}
		if p.Dictionary() != nil || p.NumNulls() != 0 || p.NumValues() != p.NumRows() {
			parquet.Release(p)
			return false, nil
		}
		d := p.Data()
		n := min(int(p.NumRows()), c.n-i)
		ok := true
		switch kind := p.Type().Kind(); {
		case kind == parquet.Float && d.Kind() == encoding.Float && len(d.Float()) >= n:
			for k, v := range d.Float()[:n] {
				if v != v || math.IsInf(float64(v), 0) {
					ok = false
					break
				}
				x[(i+k)*stride+j] = v
			}
		case kind == parquet.Double && d.Kind() == encoding.Double && len(d.Double()) >= n:
			for k, v := range d.Double()[:n] {
				if v != v || math.Abs(v) > math.MaxFloat32 {
					ok = false
					break
				}
				x[(i+k)*stride+j] = float32(v)
			}
		case kind == parquet.Int32 && d.Kind() == encoding.Int32 && len(d.Int32()) >= n:
			for k, v := range d.Int32()[:n] {
				x[(i+k)*stride+j] = float32(v)
			}
		case kind == parquet.Int64 && d.Kind() == encoding.Int64 && len(d.Int64()) >= n:
			for k, v := range d.Int64()[:n] {
				x[(i+k)*stride+j] = float32(v)
			}
		default:
			ok = false
		}
		parquet.Release(p)
		if !ok {
			// NaN, infinities or another type: the value-by-value path
			// says what is wrong with each row.
			return false, nil
		}
		i += n
	}
	return true, nil
}

// rejectRow marks row i as not scorable.
func (f *Frame) rejectRow(i int, reason string) {
	if len(f.Err) == 0 {
		f.Err = make([]string, f.Rows)
	}
	if f.Err[i] == "" {
		f.Err[i] = reason
	}
}

func parquetFeature(v parquet.Value, allowMissing bool, name string) (float32, string) {
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return 1, ""
		}
		return 0, ""
	case parquet.Int32:
		return float32(v.Int32()), ""
	case parquet.Int64:
		return float32(v.Int64()), ""
	case parquet.Float:
		x := v.Float()
		if math.IsNaN(float64(x)) {
			return parseFeature("", allowMissing, name)
		}
		return x, ""
	case parquet.Double:
		x := v.Double()
		if math.IsNaN(x) {
			return parseFeature("", allowMissing, name)
		}
		if math.IsInf(x, 0) || math.Abs(x) > math.MaxFloat32 {
			return 0, "feature " + name + ": " + strconv.FormatFloat(x, 'g', -1, 64) + " is out of range"
		}
		return float32(x), ""
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return parseFeature(string(v.ByteArray()), allowMissing, name)
	}
	return parseFeature("", allowMissing, name) // null
}

func parquetValue(v parquet.Value) Value {
	switch v.Kind() {
	case parquet.Boolean:
		return Value{Kind: KindBool, B: v.Boolean()}
	case parquet.Int32:
		return Value{Kind: KindInt, I: int64(v.Int32())}
	case parquet.Int64:
		return Value{Kind: KindInt, I: v.Int64()}
	case parquet.Float:
		return Value{Kind: kindF32, F: float64(v.Float())}
	case parquet.Double:
		return Value{Kind: KindFloat, F: v.Double()}
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return Value{Kind: KindString, S: string(v.ByteArray())}
	}
	return Value{}
}
