package oip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/inference"
)

// maxDepth is the deepest nesting of arrays and objects accepted, the same
// bound as encoding/json's, so that both decoders agree on every body.
const maxDepth = 10000

// scanner reads JSON from a byte slice, one token at a time, for decoders
// that know the shape they expect. It validates as strictly as
// encoding/json (plus: no duplicate object keys, no invalid UTF-8) and
// never allocates except to unescape strings into scratch and to build
// generic values.
type scanner struct {
	buf   []byte
	pos   int
	depth int
	keyAt int // offset of the last object key read
	// keyPlain reports that the last key read had no escapes: nextKey's
	// result is then a slice of buf, valid as long as buf is.
	keyPlain bool
	scratch  []byte // holds the last unescaped string; reused
}

// syntaxError reports malformed JSON at offset off.
func syntaxError(off int, msg string) error {
	return &inference.InputError{Msg: fmt.Sprintf("body is not valid JSON: %s at offset %d", msg, off)}
}

// unexpected reports the byte at s.pos (or the end of input) as not what
// was wanted.
func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.buf) {
		return syntaxError(s.pos, "unexpected end of input")
	}
	return syntaxError(s.pos, fmt.Sprintf("unexpected %s, expected %s", quoteByte(s.buf[s.pos]), want))
}

// quoteByte shows a byte in a syntax error: 'x', or its code when it is
// not printable ASCII.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// ws skips JSON whitespace. Most JSON has none between tokens, so it
// returns at once when the next byte is above ' '.
func (s *scanner) ws() {
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return
	}
	s.skipWS()
}

// skipWS skips JSON whitespace; ws is its fast path.
func (s *scanner) skipWS() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\n', '\r', '\t':
			s.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end of the
// input. A literal 0 byte is never valid JSON, so callers treat 0 as "not
// what I expected" and unexpected tells the two cases apart.
func (s *scanner) peek() byte {
	if s.pos < len(s.buf) {
		if c := s.buf[s.pos]; c > ' ' {
			return c
		}
	}
	s.skipWS()
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

// enter consumes the '{' or '[' at s.pos. It is small enough to inline;
// tooDeep holds the error.
func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.tooDeep()
	}
	s.pos++
	return nil
}

// tooDeep reports the '{' or '[' at s.pos as one level too deep.
func (s *scanner) tooDeep() error {
	return syntaxError(s.pos, fmt.Sprintf("arrays and objects nested deeper than %d levels", maxDepth))
}

// nextKey moves to the next member of the object being read, given how
// many members were read before. It returns the member's key (valid until
// the next string is read) with s.pos at its value, or ok false after
// consuming the closing '}'.
//
// It reads the commonest form itself, in words: a comma unless it is the
// first member, and a plain key followed at once by ':'. nextKeyAny reads
// every other form and reports the errors.
func (s *scanner) nextKey(i int) (key []byte, ok bool, err error) {
	b, p := s.buf, s.pos
	if p < 0 || p >= len(b) {
		return s.nextKeyAny(i)
	}
	switch b[p] {
	case '}':
		s.pos = p + 1
		s.depth--
		return nil, false, nil
	case ',':
		if i == 0 {
			return s.nextKeyAny(i)
		}
		p++
	case '"':
		if i > 0 {
			return s.nextKeyAny(i)
		}
	default:
		return s.nextKeyAny(i)
	}
	if p >= len(b) || b[p] != '"' {
		return s.nextKeyAny(i)
	}
	start := p + 1
	for j := start; j <= len(b)-8; j += 8 {
		w := b[j : j+8]
		m := stringStops(binary.LittleEndian.Uint64(w))
		if m == 0 {
			continue
		}
		k := bits.TrailingZeros64(m) >> 3
		end := j + k // the first byte that is not plain
		if w[k&7] != '"' || end+1 >= len(b) || b[end+1] != ':' {
			break
		}
		s.keyAt, s.keyPlain = p, true
		s.pos = end + 2
		s.ws()
		return b[start:end], true, nil
	}
	return s.nextKeyAny(i)
}

// nextKeyAny is nextKey for any input: whitespace around the tokens, keys
// with escapes or near the end of the input, and errors.
func (s *scanner) nextKeyAny(i int) (key []byte, ok bool, err error) {
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

// nextElem moves to the next element of the array being read, given how
// many elements were read before. It returns ok false after consuming the
// closing ']'; otherwise s.pos is at the element and c is its first byte
// (0 at the end of input).
func (s *scanner) nextElem(i int) (c byte, ok bool, err error) {
	c = s.peek()
	if c == ']' {
		s.pos++
		s.depth--
		return 0, false, nil
	}
	if i > 0 {
		if c != ',' {
			return 0, false, s.unexpected("',' or ']' after an array element")
		}
		s.pos++
		c = s.peek()
	}
	return c, true, nil
}

// readString reads the string at s.pos (which is '"'). The result aliases
// the input when the string has no escapes, and s.scratch otherwise; either
// way it is valid only until the next string is read.
//
// Where eight bytes are left it looks at them in a few word operations
// rather than one by one, so that a short key or name takes one or two
// steps.
func (s *scanner) readString() ([]byte, error) {
	b := s.buf
	start := s.pos + 1
	i := start
	for ; i >= 0 && i <= len(b)-8; i += 8 {
		w := b[i : i+8]
		if m := stringStops(binary.LittleEndian.Uint64(w)); m != 0 {
			k := bits.TrailingZeros64(m) >> 3
			if w[k&7] != '"' {
				return s.readStringRest(start, i+k)
			}
			s.pos = i + k + 1
			return b[start : i+k], nil
		}
	}
	for i < len(b) && plainASCII[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.pos = i + 1
		return b[start:i], nil
	}
	return s.readStringRest(start, i)
}

// stringStops returns the high bit of each of the eight bytes of w (the
// first one in the low byte) that is not plain in a string: a quote, a
// backslash, a control character or a byte from 0x80 up. Only the lowest
// bit set is sure: above a byte that stops, a byte may be marked too.
func stringStops(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below20 := w - 0x20*ones // the high bit is set in a byte below 0x20 (or above one)
	quote := w ^ '"'*ones    // a zero byte where w has a quote
	backslash := w ^ '\\'*ones
	// Where w's high bit is clear, so are quote's and backslash's; a byte
	// with w's high bit set stops anyway.
	return (w | below20 | (quote - ones) | (backslash - ones)) & highs
}

// plainASCII marks the bytes that stand for themselves in a string and
// need no check: ASCII from ' ' up, except '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// readStringRest finishes reading the string that starts at start, from
// i, the first byte that is not plain ASCII.
func (s *scanner) readStringRest(start, i int) ([]byte, error) {
	for i < len(s.buf) {
		c := s.buf[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.buf[start:i], nil
		case c == '\\':
			return s.readEscaped(start, i)
		case c < 0x20:
			return nil, syntaxError(i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(s.buf[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, syntaxError(i, "invalid UTF-8 in string")
			}
			i += n
		}
	}
	return nil, syntaxError(len(s.buf), "unexpected end of input in string")
}

// readEscaped finishes reading a string that has an escape at i, decoding
// it into s.scratch. Like encoding/json, an escaped lone surrogate becomes
// U+FFFD.
func (s *scanner) readEscaped(start, i int) ([]byte, error) {
	b := append(s.scratch[:0], s.buf[start:i]...)
	for i < len(s.buf) {
		c := s.buf[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = b
			return b, nil
		case c == '\\':
			if i+1 >= len(s.buf) {
				return nil, syntaxError(len(s.buf), "unexpected end of input in string")
			}
			switch e := s.buf[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s.buf[i+2:])
				if r < 0 {
					return nil, syntaxError(i, "invalid \\u escape in string")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2 := hex4u(s.buf[i:]); r2 >= 0 {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return nil, syntaxError(i, fmt.Sprintf("invalid escape %q in string", "\\"+string(rune(e))))
			}
			i += 2
		case c < 0x20:
			return nil, syntaxError(i, "control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRune(s.buf[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, syntaxError(i, "invalid UTF-8 in string")
			}
			b = append(b, s.buf[i:i+n]...)
			i += n
		}
	}
	return nil, syntaxError(len(s.buf), "unexpected end of input in string")
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// hex4u decodes a \uXXXX escape at the start of b, or returns -1.
func hex4u(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	return hex4(b[2:])
}

// number is a scanned JSON number literal. Besides the literal it holds
// the decimal mantissa and exponent, so that most numbers convert to a
// float without being parsed again.
type number struct {
	lit   []byte
	isInt bool   // no fraction and no exponent
	neg   bool   // starts with '-'
	exact bool   // mant and exp hold the value exactly: at most 19 digits
	mant  uint64 // significant decimal digits
	exp   int    // the value is ±mant × 10^exp
}

// readNumber reads the number at s.pos, checking the JSON grammar.
func (s *scanner) readNumber() (number, error) {
	b, i := s.buf, s.pos
	n := number{isInt: true, exact: true}
	start := i
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	// Up to 19 digits fit in mant. Leading zeros add nothing; a longer
	// mantissa is left to strconv.
	nd := 0
	switch {
	case i >= len(b):
		s.pos = i
		return number{}, s.unexpected("a digit")
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if nd < 19 {
				n.mant = n.mant*10 + uint64(b[i]-'0')
				nd++
			} else {
				n.exact = false
			}
		}
	default:
		s.pos = i
		if rest := b[start:]; bytes.HasPrefix(rest, []byte("NaN")) || bytes.HasPrefix(rest, []byte("Infinity")) || bytes.HasPrefix(rest, []byte("-Infinity")) {
			return number{}, s.unexpected("a value (JSON has no NaN or Infinity; null stands for NaN)")
		}
		return number{}, s.unexpected("a value")
	}
	if i < len(b) && b[i] == '.' {
		n.isInt = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.pos = i
			return number{}, s.unexpected("a digit after the decimal point")
		}
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			switch {
			case n.mant == 0 && b[i] == '0':
				n.exp--
			case nd < 19:
				n.mant = n.mant*10 + uint64(b[i]-'0')
				nd++
				n.exp--
			default:
				n.exact = false
			}
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		n.isInt = false
		i++
		sign := 1
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			if b[i] == '-' {
				sign = -1
			}
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.pos = i
			return number{}, s.unexpected("a digit in the exponent")
		}
		e := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if e < 1<<20 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		n.exp += sign * e
	}
	s.pos = i
	n.lit = b[start:i]
	return n, nil
}

// pow10f64 holds the powers of ten that float64 represents exactly.
var pow10f64 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float64 converts n, correctly rounded, when decimalFloat64 can,
// without parsing the literal again. ok is false otherwise; then use
// strconv.
func (n *number) float64() (f float64, ok bool) {
	if !n.exact {
		return 0, false
	}
	return decimalFloat64(n.mant, n.exp, n.neg)
}

// decimalFloat64 returns ±mant × 10^exp correctly rounded to a float64,
// for most mantissas and exponents: by one exact multiplication or
// division when mant is below 2^52, so exact as a float64, and so is the
// power of ten (the fast path of strconv.ParseFloat), else by
// eiselLemire, else, for the values that leaves in doubt because they
// are exactly a float64 or a midpoint between two, by dyadicFloat64. ok
// is false when none applies; then use strconv.
func decimalFloat64(mant uint64, exp int, neg bool) (f float64, ok bool) {
	if mant>>52 != 0 {
		return lemireOrDyadic(mant, exp, neg)
	}
	f = float64(mant)
	if neg {
		f = -f
	}
	switch e := exp; {
	case mant == 0, e == 0:
		return f, true
	case e > 0 && e <= 15+22:
		if e > 22 {
			f *= pow10f64[e-22]
			e = 22
		}
		if f > 1e15 || f < -1e15 {
			break // the first multiplication was not exact
		}
		return f * pow10f64[e], true
	case e < 0 && e >= -22:
		return f / pow10f64[-e], true
	}
	return lemireOrDyadic(mant, exp, neg)
}

// lemireOrDyadic is decimalFloat64 for the decimals that one exact
// operation cannot convert.
func lemireOrDyadic(mant uint64, exp int, neg bool) (f float64, ok bool) {
	if f, ok = eiselLemire(mant, exp, neg); !ok {
		f, ok = dyadicFloat64(mant, exp, neg)
	}
	return f, ok
}

// float32 converts n, correctly rounded, through float64 when that
// cannot round twice; see float32Of.
func (n *number) float32() (f float32, ok bool) {
	f64, ok := n.float64()
	if !ok {
		return 0, false
	}
	return float32Of(f64)
}

// float32Of rounds f64, the correctly rounded float64 of a decimal,
// to the correctly rounded float32 of that decimal, when rounding twice
// cannot differ from rounding once: float64 rounds to nearest, so a
// float32 rounding boundary (a midpoint between two float32s, which
// float64 represents) cannot lie between the exact value and the float64
// unless the float64 is that midpoint. ok is false then, and outside the
// normal float32 range; use strconv.
func float32Of(f64 float64) (f float32, ok bool) {
	switch a := math.Abs(f64); {
	case a == 0:
		return float32(f64), true
	case a < 1e-37 || a > 3e38:
		return 0, false
	case math.Float64bits(f64)&(1<<29-1) == 1<<28:
		return 0, false // a midpoint: let strconv round the exact value
	}
	return float32(f64), true
}

// readFloat reads the number at s.pos, when it is short and plain enough
// to convert by decimalFloat64: at most 19 digits and at most 3 in the
// exponent. It returns the offset past the number; ok is false, and
// nothing is read, for any other number and anything that is not a
// number, which readNumber then reads or reports.
//
// It reads the integer part, short in most numbers, a byte at a time,
// the fraction eight digits at a time (see digitCount), and converts the
// commonest numbers, a mantissa below 2^52 over a power of ten up to
// 10^22, with no further call; a fraction of fewer than eight digits and
// no exponent ends the reading at once.
func (s *scanner) readFloat() (f float64, end int, ok bool) {
	b, i := s.buf, s.pos
	if i < 0 {
		return 0, 0, false
	}
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
		first := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		if nd = i - first; nd == 0 || nd > 19 {
			return 0, 0, false
		}
	}
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		w := word(b, i)
		n := digitCount(w)
		if n > 0 && n < 8 && nd+n <= 15 && byte(w>>(8*n&63))|0x20 != 'e' {
			// The commonest numbers end here: the mantissa, below
			// 10^15, and the power of ten are exact as float64s, and
			// one division rounds correctly, as in decimalFloat64.
			f = float64(mant*pow10u64[n&15] + digitValue(w, n))
			if neg {
				f = -f
			}
			return f / pow10f64[n&15], i + n, true
		}
		for n > 0 {
			if nd+n > 19 {
				return 0, 0, false
			}
			mant = mant*pow10u64[n&15] + digitValue(w, n)
			nd += n
			i += n
			if n < 8 {
				break
			}
			w = word(b, i)
			n = digitCount(w)
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
	if mant>>52 == 0 && exp <= 0 && exp >= -22 {
		// decimalFloat64's first case, inline.
		f = float64(mant)
		if neg {
			f = -f
		}
		if exp < 0 {
			f /= pow10f64[-exp]
		}
		return f, i, true
	}
	f, ok = decimalFloat64(mant, exp, neg)
	return f, i, ok
}

// readInt reads the number at s.pos when it is a plain integer of at
// most 18 digits, whose magnitude therefore fits an int64. It returns the
// offset past the number; ok is false, and nothing is read, for any
// other number (with a fraction or an exponent, or longer) and anything
// that is not a number, which readNumber then reads or reports.
func (s *scanner) readInt() (neg bool, mag uint64, end int, ok bool) {
	b, i := s.buf, s.pos
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++ // a lone 0: no digit may follow
	} else {
		first := i
		for i < len(b) && b[i]-'0' <= 9 {
			mag = mag*10 + uint64(b[i]-'0')
			i++
		}
		if i == first || i-first > 18 {
			return false, 0, 0, false
		}
	}
	if i < len(b) && (b[i] == '.' || b[i]|0x20 == 'e') {
		return false, 0, 0, false
	}
	return neg, mag, i, true
}

// pow10u64 holds 10^n for the lengths of a digitCount, padded to 16
// entries so that an index masked with 15 needs no bounds check.
var pow10u64 = [16]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// word returns the eight bytes of b from i, the first one in the low
// byte; near the end of b, the bytes past it read as zero.
func word(b []byte, i int) uint64 {
	if i >= 0 && i <= len(b)-8 {
		return binary.LittleEndian.Uint64(b[i:])
	}
	return wordTail(b, i)
}

// wordTail is word for the last seven bytes of b and past them.
func wordTail(b []byte, i int) uint64 {
	var w uint64
	for k := 0; k < 8 && i >= 0 && i+k < len(b); k++ {
		w |= uint64(b[i+k]) << (8 * k)
	}
	return w
}

// digitCount returns the number of digits at the start of w, eight
// bytes as word returns them.
func digitCount(w uint64) int {
	const ones, highs, lows = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	x := w ^ '0'*ones // digits become 0..9
	// A byte's high bit in stop is set when it is above 9: adding 0x76
	// to its low seven bits carries into the high bit from 10 up, and
	// never into the next byte.
	stop := ((x & lows) + 0x76*ones | x) & highs
	return bits.TrailingZeros64(stop) >> 3 // 8 when all are digits
}

// digitValue returns the decimal value of the first n digits of w, eight
// bytes as word returns them; n, from 1 to 8, is at most digitCount(w).
func digitValue(w uint64, n int) uint64 {
	const ones = 0x0101010101010101
	// Keep the n digits, the first one most significant, in the top
	// bytes; the bytes below are zero, leading zeros of the number.
	x := (w ^ '0'*ones) << ((64 - 8*uint(n)) & 63)
	x = x*10 + x>>8 // byte 2k: the 2-digit number of bytes 2k and 2k+1
	const pairs = 0x000000ff000000ff
	return ((x&pairs)*(100+1000000<<32) + (x>>16&pairs)*(1+10000<<32)) >> 32
}

// literal consumes the keyword word (true, false or null) at s.pos.
func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.buf[s.pos:], []byte(word)) {
		// Point at the first byte that differs.
		for k := 0; k < len(word) && s.pos < len(s.buf) && s.buf[s.pos] == word[k]; k++ {
			s.pos++
		}
		return s.unexpected(fmt.Sprintf("%q", word))
	}
	s.pos += len(word)
	return nil
}

// keySet detects duplicate keys in one object. The zero value is ready.
// It keeps the first keys as slices of the input when they have no
// escapes, so objects of a few plain keys cost no allocation.
type keySet struct {
	first [6][]byte
	n     int
	set   map[string]struct{} // every key, once there are more than len(first)
}

// add records key, the last one nextKey returned, and reports whether it
// was already there.
func (k *keySet) add(s *scanner, key []byte) (dup bool) {
	if k.set != nil {
		if _, dup = k.set[string(key)]; !dup {
			k.set[string(key)] = struct{}{}
		}
		return dup
	}
	for _, x := range k.first[:k.n] {
		if bytes.Equal(x, key) {
			return true
		}
	}
	if k.n < len(k.first) {
		if !s.keyPlain {
			key = bytes.Clone(key) // it sits in scratch, which the next string reuses
		}
		k.first[k.n] = key
		k.n++
		return false
	}
	k.set = make(map[string]struct{}, 4*len(k.first))
	for _, x := range k.first {
		k.set[string(x)] = struct{}{}
	}
	k.set[string(key)] = struct{}{}
	return false
}

// skip reads and discards the value at s.pos, validating it fully.
func (s *scanner) skip() error { return s.walk(false) }

// walk reads and validates the value at s.pos; with ranged, a number must
// also be in a float64's range, as readAny requires.
func (s *scanner) walk(ranged bool) error {
	switch c := s.peek(); c {
	case '"':
		_, err := s.readString()
		return err
	case '{':
		if err := s.enter(); err != nil {
			return err
		}
		var keys keySet
		for i := 0; ; i++ {
			key, ok, err := s.nextKey(i)
			if err != nil || !ok {
				return err
			}
			if keys.add(s, key) {
				return duplicateKey(s.keyAt, "", key)
			}
			if err := s.walk(ranged); err != nil {
				return err
			}
		}
	case '[':
		if err := s.enter(); err != nil {
			return err
		}
		for i := 0; ; i++ {
			_, ok, err := s.nextElem(i)
			if err != nil || !ok {
				return err
			}
			if err := s.walk(ranged); err != nil {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if _, end, ok := s.readFloat(); ok {
			s.pos = end // a valid number, and in range
			return nil
		}
		at := s.pos
		n, err := s.readNumber()
		if err != nil || !ranged || numberInRange(n.lit, n.isInt) {
			return err
		}
		return &inference.InputError{Msg: fmt.Sprintf("number %s at offset %d is out of range for a 64-bit float", truncate(n.lit), at)}
	}
}

// duplicateKey reports a key seen twice in one object. path is the
// object's path when known.
func duplicateKey(off int, path string, key []byte) error {
	if path == "" {
		return &inference.InputError{Msg: fmt.Sprintf("duplicate key %q at offset %d", key, off)}
	}
	return &inference.InputError{Field: path, Msg: fmt.Sprintf("duplicate key %q", key)}
}

// readAny reads any JSON value as Go values: map[string]any, []any,
// string, bool, nil, and numbers as int64 when written as an integer that
// fits, float64 otherwise. Its errors carry an offset but no field; the
// caller adds the field.
func (s *scanner) readAny() (any, error) {
	switch c := s.peek(); c {
	case '"':
		b, err := s.readString()
		return string(b), err
	case '{':
		if err := s.enter(); err != nil {
			return nil, err
		}
		m := map[string]any{}
		for i := 0; ; i++ {
			key, ok, err := s.nextKey(i)
			if err != nil || !ok {
				return m, err
			}
			k := string(key)
			if _, dup := m[k]; dup {
				return nil, duplicateKey(s.keyAt, "", key)
			}
			if m[k], err = s.readAny(); err != nil {
				return nil, err
			}
		}
	case '[':
		if err := s.enter(); err != nil {
			return nil, err
		}
		a := []any{}
		for i := 0; ; i++ {
			_, ok, err := s.nextElem(i)
			if err != nil || !ok {
				return a, err
			}
			v, err := s.readAny()
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	default:
		at := s.pos
		n, err := s.readNumber()
		if err != nil {
			return nil, err
		}
		v, ok := genericNumber(n.lit, n.isInt)
		if !ok {
			return nil, &inference.InputError{Msg: fmt.Sprintf("number %s at offset %d is out of range for a 64-bit float", truncate(n.lit), at)}
		}
		return v, nil
	}
}

// genericNumber converts a number literal for readAny: int64 when the
// literal is an integer that fits, float64 otherwise. ok is false when the
// number overflows float64.
func genericNumber(lit []byte, isInt bool) (v any, ok bool) {
	if isInt {
		if i, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
			return i, true
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// readParams reads a parameters object (or null, giving nil). path names it
// in errors, like "inputs[2].parameters".
func (s *scanner) readParams(path func() string) (map[string]any, error) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '{':
	default:
		return nil, s.typeError(path(), "an object of parameters")
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil || !ok {
			return m, err
		}
		k := string(key)
		if _, dup := m[k]; dup {
			return nil, duplicateKey(0, path(), key)
		}
		v, err := s.readAny()
		if err != nil {
			return nil, withField(err, path()+"."+k)
		}
		m[k] = v
	}
}

// withField sets the field of an *inference.InputError that has none.
func withField(err error, field string) error {
	if e, ok := err.(*inference.InputError); ok && e.Field == "" {
		e.Field = field
	}
	return err
}

// typeError reports that the value at s.pos is not want, or, when it is
// not a JSON value at all, the syntax error.
func (s *scanner) typeError(field, want string) error {
	got, err := s.describe()
	if err != nil {
		return err
	}
	return inference.Inputf(field, "expected %s, got %s", want, got)
}

// describe names the JSON value at s.pos for an error message, like
// `string "abc"`, `number 1.5`, `an array` or `null`, after checking that
// it is a valid value. It does not move s.pos.
func (s *scanner) describe() (string, error) {
	save, depth := s.pos, s.depth
	if err := s.skip(); err != nil {
		return "", err
	}
	s.pos, s.depth = save, depth
	switch c := s.peek(); c {
	case '"':
		b, _ := s.readString()
		s.pos = save
		return "string " + quoteShort(b), nil
	case '{':
		return "an object", nil
	case '[':
		return "an array", nil
	case 't':
		return "true", nil
	case 'f':
		return "false", nil
	case 'n':
		return "null", nil
	}
	n, _ := s.readNumber()
	s.pos = save
	return "number " + string(truncate(n.lit)), nil
}

// quoteShort quotes b for an error message, shortening long strings.
func quoteShort(b []byte) string {
	return strconv.Quote(string(truncate(b)))
}

func truncate(b []byte) []byte {
	const max = 40
	if len(b) <= max {
		return b
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return append(b[:cut:cut], "..."...)
}
