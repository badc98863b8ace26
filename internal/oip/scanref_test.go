package oip

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

// This file keeps the earlier, simpler forms of the scanner's routines
// that faster ones replaced, as references for differential tests.

// refReadString is readString as it was before it read words: a byte
// loop over plainASCII, then readStringRest.
func (s *scanner) refReadString() ([]byte, error) {
	start := s.pos + 1
	i := start
	for i < len(s.buf) && plainASCII[s.buf[i]] {
		i++
	}
	if i < len(s.buf) && s.buf[i] == '"' {
		s.pos = i + 1
		return s.buf[start:i], nil
	}
	return s.readStringRest(start, i)
}

// refReadFloat is readFloat as it was before it read words through word
// and digitCount and converted the commonest numbers inline.
func (s *scanner) refReadFloat() (f float64, end int, ok bool) {
	b, i := s.buf, s.pos
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	nd := 0 // digits in mant
	if i < len(b) && b[i] == '0' {
		i++ // a lone 0: no digit may follow
	} else {
		v, n := refDigitRun(b, i)
		if n == 0 {
			return 0, 0, false
		}
		for mant, nd, i = v, n, i+n; n == 8; i += n {
			if v, n = refDigitRun(b, i); nd+n > 19 {
				return 0, 0, false
			}
			mant, nd = mant*pow10u64[n]+v, nd+n
		}
	}
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		for n := 8; n == 8; i += n {
			var v uint64
			if v, n = refDigitRun(b, i); nd+n > 19 {
				return 0, 0, false
			}
			mant, nd = mant*pow10u64[n]+v, nd+n
		}
		if i == frac {
			return 0, 0, false
		}
		exp = frac - i
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		digits, e := i, 0
		for i < len(b) && b[i]-'0' <= 9 {
			e = e*10 + int(b[i]-'0')
			i++
		}
		if i == digits || i-digits > 3 {
			return 0, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	f, ok = decimalFloat64(mant, exp, neg)
	return f, i, ok
}

// refDigitRun is digitRun as it was, with its own loop for the last seven
// bytes of b.
func refDigitRun(b []byte, i int) (v uint64, n int) {
	if i+8 > len(b) {
		for ; n < 8 && i+n < len(b) && b[i+n]-'0' <= 9; n++ {
			v = v*10 + uint64(b[i+n]-'0')
		}
		return v, n
	}
	const ones, highs, lows = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	x := binary.LittleEndian.Uint64(b[i:]) ^ '0'*ones // digits become 0..9
	// A byte's high bit in stop is set when it is above 9: adding 0x76
	// to its low seven bits carries into the high bit from 10 up, and
	// never into the next byte.
	stop := ((x & lows) + 0x76*ones | x) & highs
	n = bits.TrailingZeros64(stop) >> 3 // 8 when all are digits
	if n == 0 {
		return 0, 0
	}
	// Keep the n digits, the first one most significant, in the top
	// bytes; the bytes below are zero, leading zeros of the number.
	x <<= 64 - 8*n
	x = x*10 + x>>8 // byte 2k: the 2-digit number of bytes 2k and 2k+1
	const pairs = 0x000000ff000000ff
	x = ((x&pairs)*(100+1000000<<32) + (x>>16&pairs)*(1+10000<<32)) >> 32
	return x, n
}

// refNextKey is nextKey as it was before it read the commonest keys
// itself: it is nextKeyAny.
func (s *scanner) refNextKey(i int) (key []byte, ok bool, err error) {
	c := s.peek()
	if c == '}' {
		s.pos++
		s.depth--
		return nil, false, nil
	}
	if i > 0 {
		if c != ',' {
			return nil, false, s.unexpected("',' or '}' after an object member")
		}
		s.pos++
		c = s.peek()
	}
	if c != '"' {
		return nil, false, s.unexpected("a string key")
	}
	s.keyAt = s.pos
	if key, err = s.readString(); err != nil {
		return nil, false, err
	}
	s.keyPlain = s.pos-s.keyAt-2 == len(key) // an escape is longer than what it stands for
	if s.peek() != ':' {
		return nil, false, s.unexpected("':' after an object key")
	}
	s.pos++
	s.ws()
	return key, true, nil
}

// checkReadString holds readString to refReadString on the string at
// body[at], which is '"'.
func checkReadString(t *testing.T, body []byte, at int) {
	t.Helper()
	s := scanner{buf: body, pos: at}
	got, err := s.readString()
	ref := scanner{buf: body, pos: at}
	want, werr := ref.refReadString()
	if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(werr) || s.pos != ref.pos {
		t.Fatalf("readString(%q at %d) = %q, %v, at %d; reference: %q, %v, at %d", body, at, got, err, s.pos, want, werr, ref.pos)
	}
}

// stringBytes are the bytes planted in strings: plain ones, the ones that
// stop a plain run, their neighbours, and the starts of escapes and UTF-8
// sequences.
var stringBytes = []byte{'a', ' ', '!', '"', '#', '/', '[', '\\', ']', 'u', 0x00, 0x01, 0x09, 0x0a, 0x1f, 0x7e, 0x7f, 0x80, 0xa0, 0xbf, 0xc3, 0xe2, 0xf0, 0xff}

// TestReadStringDiff compares readString with refReadString on strings of
// 0 to 24 bytes with each kind of byte at each position, alone and with a
// second one after it, at the start of the input and after a byte of
// something else, and on every prefix of each body, so that inputs end at
// every point of the string and after it.
func TestReadStringDiff(t *testing.T) {
	const tail = `","name":"x"}`
	for pad := range 2 {
		for n := range 25 {
			for pos := range n + 1 {
				for _, c := range stringBytes {
					for _, c2 := range []byte{'b', '"', '\\', 0x1f, 0xc3} {
						b := make([]byte, 0, pad+n+len(tail)+1)
						for range pad {
							b = append(b, ':')
						}
						b = append(b, '"')
						for k := range n {
							b = append(b, byte('a'+k%26))
						}
						b = append(b, tail...)
						if pos < n {
							b[pad+1+pos] = c
							if pos+1 < n {
								b[pad+2+pos] = c2
							}
						}
						for end := pad + 1; end <= len(b); end++ {
							checkReadString(t, b[:end], pad)
						}
					}
				}
			}
		}
	}
}

// TestReadStringDiffRandom compares readString with refReadString on
// random strings, mostly plain, with escapes, UTF-8 sequences valid and
// not, and control characters.
func TestReadStringDiffRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	pieces := []string{`\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\x`, `\u12`, "é", "€", "😀", "\xc3", "\xe2\x82", "\xff", "\x00", "\t", "\x7f"}
	for range 200000 {
		b := []byte{'"'}
		for n := r.IntN(40); n > 0; n-- {
			if r.IntN(8) == 0 {
				b = append(b, pieces[r.IntN(len(pieces))]...)
			} else {
				b = append(b, byte(' '+r.IntN(95)))
			}
		}
		if r.IntN(10) != 0 {
			b = append(b, `","k":[1,2]}`[:1+r.IntN(12)]...)
		}
		checkReadString(t, b, 0)
	}
}

// refData is reqDecoder.data as it was before flat and nested took their
// first elements through run: it calls refFlat and refNested.
func (d *reqDecoder) refData(input int, t *inference.Tensor) error {
	s := &d.scanner
	n, err := inference.NumElements(t.Shape)
	if err != nil {
		return inference.Inputf(elemPath(d.list, input)+".shape", "%s", err)
	}
	dd := dataDecoder{s: s, t: t, list: d.list, input: input, n: n, idx: make([]int, maxDims)}
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
		err = dd.refNested(0)
	} else {
		err = dd.refFlat()
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

// refFlat is flat as it was, reading every element through nextElem and
// elem.
func (d *dataDecoder) refFlat() error {
	s := d.s
	count := 0
	for i := 0; ; i++ {
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

// refNested is nested as it was, reading every element through nextElem
// and elem.
func (d *dataDecoder) refNested(level int) error {
	s := d.s
	want := int(d.t.Shape[level])
	leaf := level == len(d.t.Shape)-1
	for i := 0; ; i++ {
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
				err = d.refNested(level + 1)
			}
		}
		if err != nil {
			return err
		}
	}
}

// checkReadFloatDiff holds readFloat to refReadFloat on the number at
// body[at].
func checkReadFloatDiff(t *testing.T, body []byte, at int) {
	t.Helper()
	s := scanner{buf: body, pos: at}
	f, end, ok := s.readFloat()
	rf, rend, rok := s.refReadFloat()
	if math.Float64bits(f) != math.Float64bits(rf) || end != rend || ok != rok || s.pos != at {
		t.Fatalf("readFloat(%q at %d) = %v, %d, %v; reference: %v, %d, %v", body, at, f, end, ok, rf, rend, rok)
	}
}

// TestReadFloatDiff compares readFloat with refReadFloat on numbers of
// every length of integer, fraction and exponent, in and out of
// readFloat's reach, valid and not, on every prefix of each, at the
// start of the input and inside it.
func TestReadFloatDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if n > 0 && r.IntN(4) == 0 {
			b[r.IntN(n)] = '0'
		}
		return string(b)
	}
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	suffixes := []string{"", ",", "]", " ", "}", ",1.5,2.25]", "x", "0123456789", "e", ".", "-", "\x00", "\xff"}
	for range 60000 {
		var b strings.Builder
		if r.IntN(3) == 0 {
			b.WriteByte('-')
		}
		switch r.IntN(8) {
		case 0:
			b.WriteString("0")
		case 1:
			b.WriteString("0" + digits(1+r.IntN(3))) // a leading zero: not JSON
		case 2:
			// no digit before the fraction: not JSON
		default:
			b.WriteString(string(rune('1'+r.IntN(9))) + digits(r.IntN(22)))
		}
		if r.IntN(3) != 0 {
			b.WriteString("." + digits(r.IntN(24)))
		}
		if r.IntN(3) == 0 {
			b.WriteString(pick("e", "E") + pick("", "+", "-") + digits(r.IntN(5)))
		}
		b.WriteString(pick(suffixes...))
		body := []byte(b.String())
		for end := range len(body) + 1 {
			checkReadFloatDiff(t, body[:end], 0)
		}
		in := append([]byte("[1,"), body...)
		checkReadFloatDiff(t, in, 3)
		checkReadFloatDiff(t, in, 1)
	}
	for _, lit := range []string{"0", "-0", "0.0", "-0.0", "1", "0.1", "4503599627370495", "4503599627370496", "9007199254740993", "1e22", "1e23", "1e-22", "1e-23", "123456789e-22", "1234567890123456789", "12345678901234567890", "0.0000000000000000001", "1.7976931348623157e308", "1e309", "5e-324", "2e-324", "1e-400", "0e999", "0.5e-999", "3.4028235e38", "1.00000005960464477539062", "65504", "65520", "1e", "1e+", "-", ".5", "1.", "01", "-01.5", "1.5e0001"} {
		for _, suffix := range suffixes {
			body := []byte(lit + suffix)
			for end := range len(body) + 1 {
				checkReadFloatDiff(t, body[:end], 0)
			}
		}
	}
}

// dataCase is the data array of one tensor, for TestDataDiff.
type dataCase struct {
	dt    inference.Datatype
	shape []int64
	body  []byte
}

// dataEdges are elements at the edges of what run and elem take at once,
// for each kind of datatype.
var dataEdges = map[string][]string{
	"FP":  {"0", "-0", "1.5", "null", "true", `"1"`, "[1]", "{}", "65504", "-65504", "65504.0001", "65520", "1e5", "3.4028235e38", "3.5e38", "1e-46", "1.00000005960464477539062", "12345678901234567890", "1e400", "-", "01", "1.", "NaN"},
	"INT": {"0", "-0", "1", "-1", "127", "128", "-128", "-129", "255", "256", "32767", "32768", "65535", "65536", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616", "123456789012345678", "1234567890123456789", "1.0", "1e2", "01", "-", "null", "true", `"1"`, "[1]"},
}

// genDataCase builds the data array of a tensor of a random datatype and
// shape: elements usually valid, sometimes at the edges of the datatype's
// range or of another kind, flat or nested, with whitespace, now and then
// with an element too many or too few, or cut short.
func genDataCase(g gen) dataCase {
	dt := genDatatypes[g.r.IntN(len(genDatatypes))]
	rank := g.r.IntN(4)
	deep := g.chance(0.05) // deeper than data's array for the indexes
	if deep {
		rank = 7 + g.r.IntN(4)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = g.r.IntN(5)
		if deep {
			shape[i] = 1 + g.r.IntN(2)
		}
	}
	if rank == 1 && g.chance(0.3) {
		shape[0] = 8 + g.r.IntN(20)
	}
	edges := dataEdges["INT"]
	if strings.HasPrefix(dt, "FP") {
		edges = dataEdges["FP"]
	}
	elem := func() string {
		if g.chance(0.05) {
			return edges[g.r.IntN(len(edges))]
		}
		if strings.HasPrefix(dt, "FP") && g.chance(0.5) {
			return strconv.FormatFloat(float64(float32(g.r.NormFloat64()*100)), 'g', -1, 32)
		}
		return g.element(dt)
	}
	sep := func() string {
		if g.chance(0.9) {
			return ","
		}
		return g.pick(", ", " ,", "\n,\n  ", ",\t")
	}
	var nest func(level int) string
	nest = func(level int) string {
		size := shape[level]
		if g.chance(0.03) {
			size += g.r.IntN(3) - 1
		}
		elems := make([]string, 0, max(size, 0))
		for range max(size, 0) {
			if level == len(shape)-1 {
				elems = append(elems, elem())
			} else {
				elems = append(elems, nest(level+1))
			}
		}
		var b strings.Builder
		b.WriteString("[" + g.ws())
		for i, e := range elems {
			if i > 0 {
				b.WriteString(sep())
			}
			b.WriteString(e)
		}
		b.WriteString(g.ws() + "]")
		return b.String()
	}
	var body string
	if rank > 1 && g.chance(0.5) {
		body = nest(0)
	} else {
		n := 1
		for _, d := range shape {
			n *= d
		}
		if g.chance(0.03) {
			n += g.r.IntN(3) - 1
		}
		flatShape := shape
		shape = []int{max(n, 0)}
		body = nest(0)
		shape = flatShape
	}
	body += g.pick("}", "}]}", "", ",")
	if g.chance(0.05) {
		body = body[:g.r.IntN(len(body)+1)]
	}
	c := dataCase{dt: inference.Datatype(dt), body: []byte(body)}
	for _, d := range shape {
		c.shape = append(c.shape, int64(d))
	}
	return c
}

// decodeDataCase reads c's data as a request's first input, with data or
// refData, into a tensor of c's datatype and shape, with an arena of
// arenaWords words, and returns the tensor, the error and the scanner.
func decodeDataCase(c dataCase, ref bool, words int) (inference.Tensor, error, scanner) {
	d := reqDecoder{scanner: scanner{buf: c.body, depth: 3}, max: DefaultMaxElements, list: "inputs", mem: arena{mem: make([]uint64, words)}}
	t := inference.Tensor{Name: "x", Datatype: c.dt, Shape: c.shape}
	var err error
	if ref {
		err = d.refData(0, &t)
	} else {
		err = d.data(0, &t)
	}
	return t, err, d.scanner
}

// TestDataDiff compares data, whose flat and nested loops take the first
// elements through run, with refData, which reads each element through
// nextElem and elem, on generated data arrays: the same elements, the
// same error, the scanner at the same place.
func TestDataDiff(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(15, 16))}
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for range n {
		c := genDataCase(g)
		words := 0
		if g.chance(0.5) {
			words = 64
		}
		got, err, s := decodeDataCase(c, false, words)
		want, werr, rs := decodeDataCase(c, true, words)
		if fmt.Sprint(err) != fmt.Sprint(werr) || s.pos != rs.pos || s.depth != rs.depth {
			t.Fatalf("data(%s, %v, %s) = %v, at %d, depth %d; reference: %v, at %d, depth %d", c.dt, c.shape, c.body, err, s.pos, s.depth, werr, rs.pos, rs.depth)
		}
		if err != nil {
			continue
		}
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("data(%s, %v, %s) differs from the reference (-ref +new):\n%s", c.dt, c.shape, c.body, diff)
		}
	}
}

// TestNextKeyDiff compares nextKey with refNextKey on the members of
// generated objects: keys plain and escaped, short and long, with and
// without whitespace, commas and colons missing or doubled, on every
// prefix of each body, as the first member and as a later one.
func TestNextKeyDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	keys := []string{"", "a", "id", "name", "shape", "inputs", "outputs", "datatype", "priority", "parameters", "binary_data_size", "a\\nb", "\\u0041", "é", "x\x00y", "\xff", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmnopq"}
	for range 40000 {
		var b strings.Builder
		b.WriteString(pick("", "1", "{}", "\"x\""))
		if r.IntN(8) != 0 {
			b.WriteString(pick(",", ",", ",", " ,", ", ", ",,", ""))
		}
		b.WriteString(pick("", "", "", " ", "\n  "))
		b.WriteString(pick(`"`, `"`, `"`, `"`, "", "'", "}"))
		b.WriteString(keys[r.IntN(len(keys))])
		b.WriteString(pick(`"`, `"`, `"`, `"`, ""))
		b.WriteString(pick(":", ":", ":", " :", ": ", ":\t", "", ";"))
		b.WriteString(pick("1", "[1,2]", `"v"`, "}", " "))
		body := []byte(b.String())
		at := 0
		switch {
		case body[0] == '1':
			at = 1
		case body[0] == '{':
			at = 2
		case body[0] == '"':
			at = 3
		}
		for _, first := range []int{0, 1} {
			for end := at; end <= len(body); end++ {
				s := scanner{buf: body[:end], pos: at, depth: 2}
				key, ok, err := s.nextKey(first)
				ref := scanner{buf: body[:end], pos: at, depth: 2}
				wkey, wok, werr := ref.refNextKey(first)
				if string(key) != string(wkey) || ok != wok || fmt.Sprint(err) != fmt.Sprint(werr) || s.pos != ref.pos || s.depth != ref.depth || err == nil && ok && (s.keyAt != ref.keyAt || s.keyPlain != ref.keyPlain) {
					t.Fatalf("nextKey(%d) of %q at %d = %q, %v, %v, at %d, depth %d, key at %d, plain %v; reference: %q, %v, %v, at %d, depth %d, key at %d, plain %v",
						first, body[:end], at, key, ok, err, s.pos, s.depth, s.keyAt, s.keyPlain, wkey, wok, werr, ref.pos, ref.depth, ref.keyAt, ref.keyPlain)
				}
			}
		}
	}
}
