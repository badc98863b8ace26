package batch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// OutputColumn is a column of the output: its name and kind.
type OutputColumn struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// parquetRowsPerGroup is the number of rows per Parquet row group; fixed so
// that the file does not depend on how the run was chunked or resumed.
const parquetRowsPerGroup = 128 * 1024

// orderedGroup is a Parquet group whose columns keep the order given
// (parquet.Group sorts them by name).
type orderedGroup []parquet.Field

// The methods of orderedGroup and namedField implement parquet.Node and
// parquet.Field for a group written row by row (WriteRows), which never
// maps Go values: GoType and Value are not used.

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return "group" }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }

type namedField struct {
	parquet.Node
	name string
}

func (f namedField) Name() string                           { return f.name }
func (f namedField) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

// parquetNode returns the column type for a kind. Every column is
// optional: a kept value may be missing (null).
func parquetNode(k Kind) parquet.Node {
	switch k {
	case kindF32:
		return parquet.Optional(parquet.Leaf(parquet.FloatType))
	case KindFloat:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case KindInt:
		return parquet.Optional(parquet.Int(64))
	case KindBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	}
	return parquet.Optional(parquet.String())
}

// parquetValue converts v for column ci of kind k.
func toParquet(v Value, k Kind, ci int) parquet.Value {
	if v.Kind == KindNull {
		return parquet.NullValue().Level(0, 0, ci)
	}
	var pv parquet.Value
	switch k {
	case kindF32:
		pv = parquet.FloatValue(float32(v.F))
	case KindFloat:
		f := v.F
		if v.Kind == KindInt {
			f = float64(v.I)
		}
		pv = parquet.DoubleValue(f)
	case KindInt:
		pv = parquet.Int64Value(v.I)
	case KindBool:
		pv = parquet.BooleanValue(v.B)
	default:
		pv = parquet.ByteArrayValue([]byte(v.Text()))
	}
	return pv.Level(0, 1, ci)
}

// spoolBlock is one block of a spool file: where its rows start, its
// length and how many rows it holds.
type spoolBlock struct {
	off, size int64
	rows      int
}

// indexSpool lists the blocks of a spool file from their headers.
func indexSpool(f *os.File) ([]spoolBlock, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	var hdr [spoolBlockHeader]byte
	if _, err := f.ReadAt(hdr[:len(spoolMagic)], 0); err != nil || string(hdr[:len(spoolMagic)]) != spoolMagic {
		return nil, 0, errors.New("not a spool file of this version of Sluice (start the run again)")
	}
	var blocks []spoolBlock
	var total int64
	for off := int64(len(spoolMagic)); off < size; {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return nil, 0, fmt.Errorf("block header at byte %d: %w", off, unexpected(err))
		}
		b := spoolBlock{off: off + spoolBlockHeader, size: int64(binary.LittleEndian.Uint64(hdr[:])), rows: int(binary.LittleEndian.Uint32(hdr[8:]))}
		if b.size < 0 || b.off+b.size > size {
			return nil, 0, fmt.Errorf("block at byte %d: %d bytes past the end of the file", off, b.size)
		}
		blocks = append(blocks, b)
		total += int64(b.rows)
		off = b.off + b.size
	}
	return blocks, total, nil
}

// writeParquet converts a complete spool file into a Parquet file at path.
// Row groups of parquetRowsPerGroup rows are decoded, encoded and
// compressed in parallel, and committed to the file in order.
func writeParquet(spool, path string, cols []OutputColumn) error {
	in, err := os.Open(spool)
	if err != nil {
		return err
	}
	defer in.Close()
	blocks, total, err := indexSpool(in)
	if err != nil {
		return fmt.Errorf("reading spool: %w", err)
	}
	fields := make(orderedGroup, len(cols))
	for i, c := range cols {
		fields[i] = namedField{Node: parquetNode(c.Kind), name: c.Name}
	}
	schema := parquet.NewSchema("sluice_batch", fields)
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	w := parquet.NewWriter(bw, schema, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("sluice", "", ""))

	groups := int((total + parquetRowsPerGroup - 1) / parquetRowsPerGroup)
	workers := min(runtime.GOMAXPROCS(0), max(groups, 1))
	type group struct {
		first int64
		rg    *parquet.ConcurrentRowGroupWriter
		done  chan error
	}
	work := make(chan *group)
	inOrder := make(chan *group, workers+1) // bounds the groups in memory
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rb spoolRowBuf
			for g := range work {
				values, err := rb.read(in, blocks, g.first, parquetRowsPerGroup, cols)
				if err == nil {
					err = writeColumns(g.rg, values)
				}
				if err == nil {
					err = g.rg.Flush()
				}
				g.done <- err
			}
		}()
	}
	go func() {
		defer close(work)
		defer close(inOrder)
		for k := range groups {
			g := &group{first: int64(k) * parquetRowsPerGroup, rg: w.BeginRowGroup(), done: make(chan error, 1)}
			select {
			case inOrder <- g:
			case <-stop:
				return
			}
			select {
			case work <- g:
			case <-stop:
				g.done <- errors.New("stopped")
				return
			}
		}
	}()
	var werr error
	for g := range inOrder {
		if werr = <-g.done; werr != nil {
			break
		}
		if _, werr = g.rg.Commit(); werr != nil {
			break
		}
	}
	close(stop)
	for range inOrder {
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// writeColumns writes a row group's values column by column, in slices
// small enough that pages keep to the writer's page size.
func writeColumns(rg *parquet.ConcurrentRowGroupWriter, values [][]parquet.Value) error {
	for ci, w := range rg.ColumnWriters() {
		vs := values[ci]
		for len(vs) > 0 {
			n := min(len(vs), 1024)
			if _, err := w.WriteRowValues(vs[:n]); err != nil {
				return err
			}
			vs = vs[n:]
		}
	}
	return nil
}

// spoolRowBuf decodes spool rows into Parquet column values, reusing its
// memory from one row group to the next.
type spoolRowBuf struct {
	buf  []byte
	cols [][]parquet.Value
}

// read returns the values of the n rows (fewer at the end) starting at
// row first, one slice per column. String values point into the buffer,
// which holds the group's blocks until the next call.
func (b *spoolRowBuf) read(f *os.File, blocks []spoolBlock, first int64, n int, cols []OutputColumn) ([][]parquet.Value, error) {
	if len(b.cols) != len(cols) {
		b.cols = make([][]parquet.Value, len(cols))
	}
	for ci := range b.cols {
		b.cols[ci] = slices.Grow(b.cols[ci][:0], n)
	}
	// The group's blocks, [lo, hi), and the row at which lo starts.
	var at int64
	lo := 0
	for lo < len(blocks) && at+int64(blocks[lo].rows) <= first {
		at += int64(blocks[lo].rows)
		lo++
	}
	hi, end := lo, at
	for hi < len(blocks) && end < first+int64(n) {
		end += int64(blocks[hi].rows)
		hi++
	}
	if lo == hi {
		return b.cols, nil
	}
	// Blocks lie one after the other in the file: read them at once.
	base := blocks[lo].off
	size := blocks[hi-1].off + blocks[hi-1].size - base
	if int64(cap(b.buf)) < size {
		b.buf = make([]byte, size)
	}
	all := b.buf[:size]
	if _, err := f.ReadAt(all, base); err != nil {
		return nil, fmt.Errorf("reading spool: %w", unexpected(err))
	}
	got := 0
	for _, blk := range blocks[lo:hi] {
		data := all[blk.off-base : blk.off-base+blk.size]
		for r := 0; r < blk.rows && got < n; r++ {
			keep := at+int64(r) >= first
			for ci, c := range cols {
				v, used, err := spoolParquetValue(data, c.Kind, ci)
				if err != nil {
					return nil, fmt.Errorf("reading spool: %w", err)
				}
				data = data[used:]
				if keep {
					b.cols[ci] = append(b.cols[ci], v)
				}
			}
			if keep {
				got++
			}
		}
		at += int64(blk.rows)
	}
	return b.cols, nil
}

// spoolParquetValue decodes one spool value at the start of b as a value
// of column ci of kind k, as toParquet(readSpool(b)) would, without
// copying strings (the value points into b) in the common cases.
func spoolParquetValue(b []byte, k Kind, ci int) (parquet.Value, int, error) {
	if len(b) > 0 {
		switch vk := Kind(b[0]); {
		case vk == KindString && k == KindString:
			n, w := binary.Uvarint(b[1:])
			if w > 0 && uint64(len(b)-1-w) >= n {
				s := b[1+w : 1+w+int(n) : 1+w+int(n)]
				return parquet.ByteArrayValue(s).Level(0, 1, ci), 1 + w + int(n), nil
			}
		case vk == kindF32 && k == kindF32 && len(b) >= 5:
			f := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[1:])))
			return parquet.FloatValue(float32(f)).Level(0, 1, ci), 5, nil
		}
	}
	v, used, err := readSpool(b)
	if err != nil {
		return parquet.Value{}, 0, err
	}
	return toParquet(v, k, ci), used, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
