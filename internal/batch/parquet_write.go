package batch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"reflect"

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

// writeParquet converts a complete spool file into a Parquet file at path.
func writeParquet(spool, path string, cols []OutputColumn) error {
	in, err := os.Open(spool)
	if err != nil {
		return err
	}
	defer in.Close()
	fields := make(orderedGroup, len(cols))
	for i, c := range cols {
		fields[i] = namedField{Node: parquetNode(c.Kind), name: c.Name}
	}
	schema := parquet.NewSchema("sluice_batch", fields)
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	w := parquet.NewWriter(bw, schema, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("sluice", "", ""))
	r := bufio.NewReaderSize(in, 1<<20)
	batch := make([]parquet.Row, 0, 1024)
	var inGroup int
	var buf []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := w.WriteRows(batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	for {
		row := make(parquet.Row, len(cols))
		for ci := range cols {
			v, err := readSpoolFrom(r, &buf)
			if err == io.EOF && ci == 0 {
				goto done
			}
			if err != nil {
				out.Close()
				return fmt.Errorf("reading spool: %w", err)
			}
			row[ci] = toParquet(v, cols[ci].Kind, ci)
		}
		batch = append(batch, row)
		inGroup++
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				out.Close()
				return err
			}
		}
		if inGroup == parquetRowsPerGroup {
			if err := flush(); err != nil {
				out.Close()
				return err
			}
			if err := w.Flush(); err != nil {
				out.Close()
				return err
			}
			inGroup = 0
		}
	}
done:
	if err := flush(); err != nil {
		out.Close()
		return err
	}
	if err := w.Close(); err != nil {
		out.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// readSpoolFrom reads one spool value from r.
func readSpoolFrom(r *bufio.Reader, buf *[]byte) (Value, error) {
	k, err := r.ReadByte()
	if err != nil {
		return Value{}, err
	}
	need := 0
	switch Kind(k) {
	case KindNull:
		return Value{}, nil
	case KindString:
		n, err := binaryUvarint(r)
		if err != nil {
			return Value{}, err
		}
		*buf = append((*buf)[:0], Kind(k).byte())
		*buf = appendUvarintBytes(*buf, n)
		start := len(*buf)
		*buf = append(*buf, make([]byte, n)...)
		if _, err := io.ReadFull(r, (*buf)[start:]); err != nil {
			return Value{}, unexpected(err)
		}
		v, _, err := readSpool(*buf)
		return v, err
	case KindInt, KindFloat:
		need = 8
	case kindF32:
		need = 4
	case KindBool:
		need = 1
	default:
		return Value{}, fmt.Errorf("unknown kind %d", k)
	}
	*buf = append((*buf)[:0], k)
	*buf = append(*buf, make([]byte, need)...)
	if _, err := io.ReadFull(r, (*buf)[1:]); err != nil {
		return Value{}, unexpected(err)
	}
	v, _, err := readSpool(*buf)
	return v, err
}

func (k Kind) byte() byte { return byte(k) }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func binaryUvarint(r *bufio.Reader) (uint64, error) {
	var x uint64
	var s uint
	for i := 0; i < 10; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		if b < 0x80 {
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("bad length")
}

func appendUvarintBytes(dst []byte, x uint64) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}
