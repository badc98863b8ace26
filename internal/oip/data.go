package oip

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// maxFP16 is the largest finite half-precision value.
const maxFP16 = 65504

// elemKind selects how the elements of a tensor are read.
type elemKind uint8

const (
	kindFloat32 elemKind = iota // FP32 and FP16, into F32
	kindFloat64                 // FP64, into F64
	kindInt                     // INT8..INT64 and UINT8..UINT32, into I64
	kindUint64                  // UINT64, into U64
	kindBool                    // BOOL, into Bool
	kindBytes                   // BYTES, into Bytes
)

// dataDecoder reads the "data" array of one input tensor straight into
// the tensor's typed slice.
type dataDecoder struct {
	s      *scanner
	t      *inference.Tensor
	list   string   // the tensors' array, "inputs", for error paths
	input  int      // index in that array
	n      int      // elements the shape holds
	kind   elemKind // which slice of t receives the elements
	lo, hi int64    // range of kindInt
	// idx holds the index being read at each nesting level: at least
	// one, and one for each dimension of the shape. It is a slice, backed
	// by an array on the stack for most shapes, so that the decoder is
	// not cleared in full for room that few tensors use.
	idx []int
	// strs holds the elements of BYTES data. It lives apart because the
	// elements end up in the result, and escape analysis, which does not
	// tell the fields of a variable apart, would then move what s points
	// to, the request decoder, to the heap.
	strs *byteStrings
}

// byteStrings holds the elements of BYTES data as they are read.
type byteStrings struct {
	arena []byte // contents, back to back
	ends  []int  // end of each element in arena
}

// data reads the "data" array at s.pos into t, whose datatype and shape
// are known.
func (d *reqDecoder) data(input int, t *inference.Tensor) error {
	s := &d.scanner
	n, err := inference.NumElements(t.Shape)
	if err != nil {
		return inference.Inputf(elemPath(d.list, input)+".shape", "%s", err)
	}
	dd := dataDecoder{s: s, t: t, list: d.list, input: input, n: n}
	var idx [8]int
	if dd.idx = idx[:]; len(t.Shape) > len(idx) {
		dd.idx = make([]int, len(t.Shape))
	}
	var strs byteStrings
	// Never trust the shape for memory: each element takes at least two
	// bytes of body ("0,"), so a tiny body cannot make us allocate much.
	// The arena costs nothing more: data that fits there gets room for
	// all of its elements.
	hint := min(n, (len(s.buf)-s.pos)/2+1)
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		dd.kind, t.F32 = kindFloat32, dataSlice[float32](&d.mem, n, hint)
	case inference.FP64:
		dd.kind, t.F64 = kindFloat64, dataSlice[float64](&d.mem, n, hint)
	case inference.UINT64:
		dd.kind, t.U64 = kindUint64, dataSlice[uint64](&d.mem, n, hint)
	case inference.BOOL:
		dd.kind, t.Bool = kindBool, dataSlice[bool](&d.mem, n, hint)
	case inference.BYTES:
		dd.kind, t.Bytes = kindBytes, make([][]byte, 0, hint)
		strs.ends = make([]int, 0, hint)
		dd.strs = &strs
	default:
		dd.kind, t.I64 = kindInt, dataSlice[int64](&d.mem, n, hint)
		dd.lo, dd.hi = intRange(t.Datatype)
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == '[' && len(t.Shape) > 0 {
		err = dd.nested(0)
	} else {
		err = dd.flat()
	}
	if err != nil {
		return err
	}
	if dd.kind == kindBytes {
		start := 0
		for _, end := range strs.ends {
			t.Bytes = append(t.Bytes, strs.arena[start:end:end])
			start = end
		}
	}
	return nil
}

// dataSlice returns an empty slice for n elements: in the arena when they
// fit, else a new one with room for hint.
func dataSlice[T float32 | float64 | int64 | uint64 | bool](a *arena, n, hint int) []T {
	if s := arenaSlice[T](a, n); s != nil {
		return s
	}
	return make([]T, 0, hint)
}

// intRange returns the values an integer datatype held in I64 can take.
func intRange(dt inference.Datatype) (lo, hi int64) {
	switch dt {
	case inference.INT8:
		return math.MinInt8, math.MaxInt8
	case inference.INT16:
		return math.MinInt16, math.MaxInt16
	case inference.INT32:
		return math.MinInt32, math.MaxInt32
	case inference.UINT8:
		return 0, math.MaxUint8
	case inference.UINT16:
		return 0, math.MaxUint16
	case inference.UINT32:
		return 0, math.MaxUint32
	}
	return math.MinInt64, math.MaxInt64
}

// flat reads data given as a flat array; the '[' is consumed.
func (d *dataDecoder) flat() error {
	s := d.s
	count := d.run(d.n)
	for i := count; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if count == d.n {
			return d.tooMany(i, 0, d.n, true)
		}
		d.idx[0] = i
		if c == '[' {
			return d.failAt(0, "expected %s, got an array: data must be flat, or nested exactly as shape %s", d.want(), formatShape(d.t.Shape))
		}
		if err := d.elem(c, 0); err != nil {
			return err
		}
		count++
	}
	if count != d.n {
		return d.failAt(-1, "shape %s needs %d elements, got %d", formatShape(d.t.Shape), d.n, count)
	}
	return nil
}

// nested reads the array at the given nesting level, whose '[' is
// consumed; its length must be shape[level].
func (d *dataDecoder) nested(level int) error {
	s := d.s
	want := int(d.t.Shape[level])
	leaf := level == len(d.t.Shape)-1
	start := 0
	if leaf {
		start = d.run(want)
	}
	for i := start; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return err
		}
		if !ok {
			if i != want {
				return d.failAt(level-1, "has %s; shape %s needs %d in dimension %d", plural(i, "element"), formatShape(d.t.Shape), want, level)
			}
			return nil
		}
		if i == want {
			return d.tooMany(i, level, want, false)
		}
		d.idx[level] = i
		switch {
		case leaf && c == '[':
			return d.failAt(level, "expected %s, got an array: data is nested deeper than shape %s", d.want(), formatShape(d.t.Shape))
		case leaf:
			err = d.elem(c, level)
		case c != '[':
			return s.typeError(d.path(level), "an array (data nested as shape "+formatShape(d.t.Shape)+")")
		default:
			if err = s.enter(); err == nil {
				err = d.nested(level + 1)
			}
		}
		if err != nil {
			return err
		}
	}
}

// run reads the first elements of the array being read, whose '[' is
// consumed, for as long as they are numbers that elem would take at once
// (plain, short, and in range for the datatype), up to max of them. It
// returns how many it read, with s.pos just past the last one (past the
// whitespace after the '[' when none): the general loop of flat or nested
// goes on from there, at that index, and reports whatever stopped run.
// It saves the general loop's calls for each element of the data most
// requests carry.
func (d *dataDecoder) run(max int) int {
	s := d.s
	t := d.t
	s.ws()
	k := 0
	switch d.kind {
	case kindFloat32:
		fp16 := t.Datatype == inference.FP16
		for ; k < max; k++ {
			at := s.pos
			if k > 0 {
				if s.peek() != ',' {
					break
				}
				s.pos++
				s.ws()
			}
			f64, end, ok := s.readFloat()
			f, ok32 := float32Of(f64)
			if !ok || !ok32 || (fp16 && (f > maxFP16 || f < -maxFP16)) {
				s.pos = at
				break
			}
			s.pos = end
			t.F32 = append(t.F32, f)
		}
	case kindFloat64:
		for ; k < max; k++ {
			at := s.pos
			if k > 0 {
				if s.peek() != ',' {
					break
				}
				s.pos++
				s.ws()
			}
			f, end, ok := s.readFloat()
			if !ok {
				s.pos = at
				break
			}
			s.pos = end
			t.F64 = append(t.F64, f)
		}
	case kindInt, kindUint64:
		lo, hi := d.lo, d.hi
		for ; k < max; k++ {
			at := s.pos
			if k > 0 {
				if s.peek() != ',' {
					break
				}
				s.pos++
				s.ws()
			}
			neg, mag, end, ok := s.readInt()
			if !ok {
				s.pos = at
				break
			}
			if d.kind == kindUint64 {
				if neg && mag != 0 {
					s.pos = at
					break
				}
				t.U64 = append(t.U64, mag)
			} else {
				v := int64(mag)
				if neg {
					v = -v
				}
				if v < lo || v > hi {
					s.pos = at
					break
				}
				t.I64 = append(t.I64, v)
			}
			s.pos = end
		}
	}
	return k
}

// tooMany reports an array with more than want elements, after counting
// them; s.pos is at element i, the first one too many. flat tells whether
// the array is flat data, or the array at level of nested data.
func (d *dataDecoder) tooMany(i, level, want int, flat bool) error {
	s := d.s
	for {
		if err := s.skip(); err != nil {
			return err
		}
		i++
		_, ok, err := s.nextElem(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	if flat {
		return d.failAt(-1, "shape %s needs %d elements, got %d", formatShape(d.t.Shape), d.n, i)
	}
	return d.failAt(level-1, "has %s; shape %s needs %d in dimension %d", plural(i, "element"), formatShape(d.t.Shape), want, level)
}

// want names what an element must be.
func (d *dataDecoder) want() string {
	switch d.kind {
	case kindFloat32, kindFloat64:
		return "a number"
	case kindBool:
		return "true or false"
	case kindBytes:
		return "a string"
	}
	return "an integer"
}

// failAt reports a problem at path(level).
func (d *dataDecoder) failAt(level int, format string, args ...any) error {
	return inference.Inputf(d.path(level), format, args...)
}

// path is the JSON path made of the indexes of levels 0..level (-1 for the
// data array itself): inputs[0].data[1][2].
func (d *dataDecoder) path(level int) string {
	var b strings.Builder
	b.WriteString(elemPath(d.list, d.input))
	b.WriteString(".data")
	for l := 0; l <= level; l++ {
		fmt.Fprintf(&b, "[%d]", d.idx[l])
	}
	return b.String()
}

// elem reads one element, whose first byte is c, at the current index of
// level.
func (d *dataDecoder) elem(c byte, level int) error {
	s := d.s
	t := d.t
	// The common elements first: plain numbers that readFloat or readInt
	// take and that fit the datatype. Anything else, every error
	// included, takes the general path below.
	switch d.kind {
	case kindFloat32:
		if f64, end, ok := s.readFloat(); ok {
			f, ok := float32Of(f64)
			if ok && (t.Datatype != inference.FP16 || (f <= maxFP16 && f >= -maxFP16)) {
				s.pos = end
				t.F32 = append(t.F32, f)
				return nil
			}
		}
	case kindFloat64:
		if f, end, ok := s.readFloat(); ok {
			s.pos = end
			t.F64 = append(t.F64, f)
			return nil
		}
	case kindInt:
		if neg, mag, end, ok := s.readInt(); ok {
			v := int64(mag)
			if neg {
				v = -v
			}
			if d.lo <= v && v <= d.hi {
				s.pos = end
				t.I64 = append(t.I64, v)
				return nil
			}
		}
	case kindUint64:
		if neg, mag, end, ok := s.readInt(); ok && (!neg || mag == 0) {
			s.pos = end
			t.U64 = append(t.U64, mag)
			return nil
		}
	case kindBool:
		switch c {
		case 't':
			if err := s.literal("true"); err != nil {
				return err
			}
			t.Bool = append(t.Bool, true)
			return nil
		case 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
			t.Bool = append(t.Bool, false)
			return nil
		}
		return s.typeError(d.path(level), "true or false")
	case kindBytes:
		if c != '"' {
			return s.typeError(d.path(level), "a string")
		}
		b, err := s.readString()
		if err != nil {
			return err
		}
		d.strs.arena = append(d.strs.arena, b...)
		d.strs.ends = append(d.strs.ends, len(d.strs.arena))
		return nil
	}
	if c == 'n' && (d.kind == kindFloat32 || d.kind == kindFloat64) {
		// null stands for NaN, as in responses.
		if err := s.literal("null"); err != nil {
			return err
		}
		if d.kind == kindFloat32 {
			t.F32 = append(t.F32, float32(math.NaN()))
		} else {
			t.F64 = append(t.F64, math.NaN())
		}
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		return s.typeError(d.path(level), d.want())
	}
	at := s.pos
	n, err := s.readNumber()
	if err != nil {
		return err
	}
	switch d.kind {
	case kindFloat32:
		f, ok := n.float32()
		if !ok {
			f64, err := strconv.ParseFloat(string(n.lit), 32)
			if err != nil {
				return d.failAt(level, "%s is out of range for %s", truncate(n.lit), t.Datatype)
			}
			f = float32(f64)
		}
		if t.Datatype == inference.FP16 && (f > maxFP16 || f < -maxFP16) {
			return d.failAt(level, "%s is out of range for FP16 (largest magnitude %d)", truncate(n.lit), maxFP16)
		}
		t.F32 = append(t.F32, f)
	case kindFloat64:
		f, ok := n.float64()
		if !ok {
			var err error
			if f, err = strconv.ParseFloat(string(n.lit), 64); err != nil {
				return d.failAt(level, "%s is out of range for FP64", truncate(n.lit))
			}
		}
		t.F64 = append(t.F64, f)
	case kindInt, kindUint64:
		if !n.isInt {
			s.pos = at
			return s.typeError(d.path(level), "an integer for "+string(t.Datatype))
		}
		neg, mag, ok := parseUint(n)
		if d.kind == kindUint64 {
			if !ok || (neg && mag != 0) {
				return d.failAt(level, "%s is out of range for UINT64 (0..%d)", truncate(n.lit), uint64(math.MaxUint64))
			}
			t.U64 = append(t.U64, mag)
			return nil
		}
		var v int64
		switch {
		case !ok, !neg && mag > math.MaxInt64, neg && mag > 1<<63:
			ok = false
		case neg:
			v = int64(-mag)
		default:
			v = int64(mag)
		}
		if !ok || v < d.lo || v > d.hi {
			return d.failAt(level, "%s is out of range for %s (%d..%d)", truncate(n.lit), t.Datatype, d.lo, d.hi)
		}
		t.I64 = append(t.I64, v)
	}
	return nil
}

// plural writes a count and a noun: 1 element, 2 elements.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
