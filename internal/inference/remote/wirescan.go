package remote

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// The scan of a response body. One pass validates the body as strictly
// as encoding/json.Valid (the same grammar, the same nesting bound, and
// like it no check of UTF-8) and locates the members the decoders need.
// The one array that is handed to the oip decoder is validated by that
// decoder, more strictly still, and a body whose array it accepts is
// valid JSON as a whole. decodeV2Outputs hands the "outputs" of a v2
// response over where they stand, in the same pass. scanResponse, for
// the other decoders and to explain a v2 response decodeV2Outputs
// rejects, only matches the array's brackets; when the oip decoder does
// not accept the array, it is validated here after all, so that invalid
// JSON is reported as such wherever it is.

// maxDepth is the deepest nesting of arrays and objects accepted, the
// bound of encoding/json and of the oip decoder.
const maxDepth = 10000

// syntaxError reports that a response is not valid JSON, at offset off.
func syntaxError(off int, format string, args ...any) error {
	return fmt.Errorf("response is not valid JSON: %s at offset %d", fmt.Sprintf(format, args...), off)
}

// unexpected reports the byte at b[i], or the end of b, as not what was
// wanted.
func unexpected(b []byte, i int, want string) error {
	switch {
	case len(b) == 0:
		return errors.New("response is not valid JSON: the body is empty")
	case i >= len(b):
		return syntaxError(i, "unexpected end of input, expected %s", want)
	}
	return syntaxError(i, "unexpected %s, expected %s", showByte(b[i]), want)
}

// showByte shows a byte in a syntax error: 'x', or its code when it is
// not printable ASCII.
func showByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// decodeV2Outputs reads a v2 inference response in one pass: it
// validates the top-level object as scanResponse does, and has the oip
// decoder read the "outputs" array where it stands, which validates it
// more strictly still. ok is false, with no detail, for any response
// that is not a valid JSON object with one array of valid tensors called
// "outputs"; explainV2Response then says what is wrong.
func decodeV2Outputs(body []byte) (out []inference.Tensor, ok bool) {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i = skipWS(body, i+1)
	found := false
	for {
		if i >= len(body) || body[i] != '"' {
			return nil, false // no members, or not a key
		}
		kEnd, err := scanString(body, i)
		if err != nil {
			return nil, false
		}
		key := body[i+1 : kEnd-1]
		i = skipWS(body, kEnd)
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		v := skipWS(body, i+1)
		var end int
		if keyIs(key, "outputs") {
			if found || v >= len(body) || body[v] != '[' {
				return nil, false
			}
			found = true
			// The limit is the one explainV2Response's decoder has.
			out, end, err = oip.DecodeTensors(body, v, "outputs", oip.Limits{MaxElements: len(body)/2 + 1})
		} else {
			end, err = scanValue(body, v, 1)
		}
		if err != nil {
			return nil, false
		}
		i = skipWS(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipWS(body, i+1)
			continue
		}
		if i >= len(body) || body[i] != '}' {
			return nil, false
		}
		return out, found && skipWS(body, i+1) == len(body)
	}
}

// span locates what a decoder needs in a response's top-level object.
type span struct {
	start, end       int // the wanted member's value, or -1, -1 when absent
	elems            int // the number of elements of that value, when an array
	errStart, errEnd int // the last "error" member whose value is a string, or -1, -1
	dup              bool
}

// scanResponse checks that body is one JSON object and nothing else, and
// finds its member called want and its "error" member. The value of want,
// when it is an array, is left to the oip decoder to validate: after
// handing it over, a caller calls checkArray when the decoder failed.
func scanResponse(body []byte, want string) (span, error) {
	sp := span{start: -1, end: -1, errStart: -1, errEnd: -1}
	i := skipWS(body, 0)
	if i >= len(body) {
		return sp, unexpected(body, i, "a JSON object")
	}
	if body[i] != '{' {
		end, err := scanValue(body, i, 0)
		if err != nil {
			return sp, err
		}
		if err := scanEnd(body, end); err != nil {
			return sp, err
		}
		return sp, fmt.Errorf("response is %s, not a JSON object", kind(body[i:]))
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		return sp, scanEnd(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return sp, unexpected(body, i, "a string key")
		}
		kEnd, err := scanString(body, i)
		if err != nil {
			return sp, err
		}
		key := body[i+1 : kEnd-1]
		i = skipWS(body, kEnd)
		if i >= len(body) || body[i] != ':' {
			return sp, unexpected(body, i, "':' after an object key")
		}
		v := skipWS(body, i+1)
		isWant := keyIs(key, want)
		var end int
		if isWant && sp.start < 0 && v < len(body) && body[v] == '[' {
			var ok bool
			if end, sp.elems, ok = matchArray(body, v); !ok {
				// It never closes: name the first fault in it.
				if _, err := scanValue(body, v, 1); err != nil {
					return sp, err
				}
				return sp, unexpected(body, len(body), "']'") // not reached
			}
			sp.start, sp.end = v, end
		} else {
			if end, err = scanValue(body, v, 1); err != nil {
				return sp, err
			}
			switch {
			case isWant && sp.start >= 0:
				sp.dup = true
			case isWant:
				sp.start, sp.end = v, end
			case body[v] == '"' && keyIs(key, "error"):
				sp.errStart, sp.errEnd = v, end
			}
		}
		i = skipWS(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipWS(body, i+1)
			continue
		}
		if i < len(body) && body[i] == '}' {
			break
		}
		return sp, unexpected(body, i, "',' or '}' after an object member")
	}
	if err := scanEnd(body, i+1); err != nil {
		return sp, err
	}
	if sp.dup {
		if err := sp.checkArray(body); err != nil {
			return sp, err
		}
		return sp, fmt.Errorf("response has %q twice", want)
	}
	return sp, nil
}

// checkArray validates the wanted member's value when it is an array,
// which scanResponse only matched for brackets.
func (sp *span) checkArray(body []byte) error {
	if sp.start < 0 || body[sp.start] != '[' {
		return nil
	}
	_, err := scanValue(body, sp.start, 1)
	return err
}

// scanEnd checks that only whitespace follows the top-level value, which
// ends at b[i].
func scanEnd(b []byte, i int) error {
	if j := skipWS(b, i); j < len(b) {
		return syntaxError(j, "unexpected %s after the top-level value", showByte(b[j]))
	}
	return nil
}

// keyIs reports whether raw, the bytes of an object key between its
// quotes, checked by scanString, is name, an ASCII string without
// backslashes, once unescaped as encoding/json would. A non-ASCII byte
// or escape cannot match, whatever it decodes to.
func keyIs(raw []byte, name string) bool {
	if len(raw) == len(name) {
		return string(raw) == name // an escape is longer than what it stands for
	}
	if len(raw) < len(name) || bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	k := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		i++
		if c == '\\' {
			switch c = raw[i]; c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'u':
				r := hex4(raw[i+1 : i+5])
				if r >= 0x80 {
					return false
				}
				c = byte(r)
				i += 4
			}
			i++
		}
		if k >= len(name) || name[k] != c {
			return false
		}
		k++
	}
	return k == len(name)
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var v [2]byte
	if len(b) < 4 {
		return -1
	}
	if _, err := hex.Decode(v[:], b[:4]); err != nil {
		return -1
	}
	return rune(v[0])<<8 | rune(v[1])
}

// inStringStop marks the bytes that end a run of plain bytes in a
// string: the quote, the backslash and the control characters.
var inStringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanString validates the string at b[i] == '"' and returns the offset
// past it. Like json.Valid, it takes any byte from 0x20 up, valid UTF-8
// or not.
func scanString(b []byte, i int) (int, error) {
	start := i
	for i++; ; {
		for i < len(b) && !inStringStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, syntaxError(i, "unexpected end of input in the string at offset %d", start)
		}
		switch c := b[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(b) {
				return i, syntaxError(i+1, "unexpected end of input in the string at offset %d", start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return i, syntaxError(i, `invalid \u escape (want four hex digits) in a string`)
				}
				i += 6
			default:
				return i, syntaxError(i, "invalid escape %q in a string", b[i:i+2])
			}
		default:
			return i, syntaxError(i, "control character 0x%02x in a string (write it escaped)", c)
		}
	}
}

// scanValue validates the JSON value at b[i] (after whitespace) and
// returns the offset past it. depth is the nesting depth of the array or
// object holding the value, 0 for a top-level value.
func scanValue(b []byte, i, depth int) (int, error) {
	var small [4]uint64
	objs := small[:] // bit k: the k-th container open here is an object
	n := 0           // containers open here
	var err error
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return i, unexpected(b, i, "a value")
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+n >= maxDepth {
				return i, syntaxError(i, "arrays and objects nested deeper than %d levels", maxDepth)
			}
			if n == 64*len(objs) {
				objs = append(objs, 0)
			}
			if c == '{' {
				objs[n/64] |= 1 << (n % 64)
			} else {
				objs[n/64] &^= 1 << (n % 64)
			}
			n++
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				i++
				n--
				break
			}
			if c == '{' {
				if i, err = scanKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			i, err = scanString(b, i)
		case 't':
			i, err = scanLiteral(b, i, "true")
		case 'f':
			i, err = scanLiteral(b, i, "false")
		case 'n':
			i, err = scanLiteral(b, i, "null")
		default:
			i, err = scanNumber(b, i)
		}
		if err != nil {
			return i, err
		}
		// After a value: close what it ends, up to the next element.
		for {
			if n == 0 {
				return i, nil
			}
			i = skipWS(b, i)
			obj := objs[(n-1)/64]>>((n-1)%64)&1 != 0
			if i < len(b) && b[i] == ',' {
				if obj {
					if i, err = scanKey(b, skipWS(b, i+1)); err != nil {
						return i, err
					}
				} else {
					i++
				}
				break
			}
			closer, want := byte(']'), "',' or ']' after an array element"
			if obj {
				closer, want = '}', "',' or '}' after an object member"
			}
			if i >= len(b) || b[i] != closer {
				return i, unexpected(b, i, want)
			}
			i++
			n--
		}
	}
}

// scanKey validates an object key at b[i] and the colon after it, and
// returns the offset of the value.
func scanKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, unexpected(b, i, "a string key")
	}
	i, err := scanString(b, i)
	if err != nil {
		return i, err
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, unexpected(b, i, "':' after an object key")
	}
	return i + 1, nil
}

// scanLiteral checks the keyword word (true, false or null) at b[i].
func scanLiteral(b []byte, i int, word string) (int, error) {
	for k := 0; k < len(word); k++ {
		if i+k >= len(b) || b[i+k] != word[k] {
			return i + k, unexpected(b, i+k, fmt.Sprintf("%q", word))
		}
	}
	return i + len(word), nil
}

// scanNumber checks the number at b[i] against the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	case i == start:
		for _, w := range [...]string{"NaN", "Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(w)) {
				return i, unexpected(b, i, "a value (JSON has no NaN or Infinity)")
			}
		}
		return i, unexpected(b, i, "a value")
	default:
		return i, unexpected(b, i, "a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, unexpected(b, i, "a digit after the decimal point")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, unexpected(b, i, "a digit in the exponent")
		}
		i = digits(b, i+1)
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// The bracket matcher, for the array handed to the oip decoder. It
// counts the array's elements by the commas at its own level. It does
// not validate: of a valid array it tells the true end and count, and of
// anything else something the oip decoder then rejects.

// Byte classes of the bracket matcher.
const (
	plain = iota
	quote
	open
	closing
	comma
)

// classes holds the classes of bytes inside nested arrays and objects;
// classesTop, those inside the matched array itself, where commas count.
var classes, classesTop = func() (in, top [256]uint8) {
	for _, t := range []*[256]uint8{&in, &top} {
		t['"'] = quote
		t['['], t['{'] = open, open
		t[']'], t['}'] = closing, closing
	}
	top[','] = comma
	return in, top
}()

// matchArray finds the end of the array at b[i] == '[' and counts its
// elements. ok is false when the input ends first.
func matchArray(b []byte, i int) (end, elems int, ok bool) {
	start := i
	depth, commas := 0, 0
	cls := &classesTop
	for ; i < len(b); i++ {
		if depth > 1 {
			i = skipPlain8(b, i)
		}
		for i < len(b) && cls[b[i]] == plain {
			i++
		}
		if i >= len(b) {
			break
		}
		switch cls[b[i]] {
		case quote:
			if i = skipStringFast(b, i); i > len(b) {
				return 0, 0, false
			}
			i-- // the loop's i++ steps past the quote
		case open:
			depth++
			cls = &classes
			if depth == 1 {
				cls = &classesTop
			}
		case closing:
			depth--
			switch depth {
			case 0:
				if first := skipWS(b, start+1); first < i {
					elems = commas + 1
				}
				return i + 1, elems, true
			case 1:
				cls = &classesTop
			}
		case comma:
			commas++
		}
	}
	return 0, 0, false
}

// skipStringFast returns the offset past the string at b[i] == '"', or
// len(b)+1 when it does not end: a quote ends it unless escaped, that is
// unless an odd number of backslashes comes right before it.
func skipStringFast(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b) + 1
		}
		q := j + k
		p := q
		for p > i+1 && b[p-1] == '\\' {
			p--
		}
		if (q-p)%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipPlain8 skips, eight at a time, bytes that are none of " [ ] { }
// (the bytes that matter to matchArray below its top level), stopping
// at the first eight that hold one, or fewer than eight before the end.
func skipPlain8(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// hasZero tells whether a byte of x is zero.
	hasZero := func(x uint64) bool { return (x-ones)&^x&highs != 0 }
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// Setting bit 5 turns '[' into '{' and ']' into '}', and no
		// other byte into either.
		y := x | 0x20*ones
		if hasZero(x^'"'*ones) || hasZero(y^'{'*ones) || hasZero(y^'}'*ones) {
			break
		}
	}
	return i
}
