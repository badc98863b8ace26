package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// jsonSource reads the JSON that Booster.save_model("x.json") writes.
//
// It is a small hand-written scanner rather than encoding/json because
// XGBoost writes the bare tokens NaN and Infinity (categorical splits store
// NaN as their threshold), and because numbers must be rounded straight to
// float32 the way XGBoost's own reader does.
type jsonSource struct {
	data  []byte
	pos   int
	depth int
}

func newJSONSource(data []byte) *jsonSource { return &jsonSource{data: data} }

// syntaxError reports malformed JSON at the current offset.
func (s *jsonSource) syntaxError(format string, args ...any) error {
	err := errorf(format, args...).(*decodeError)
	err.msg += " at offset " + strconv.Itoa(s.pos)
	return err
}

func (s *jsonSource) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonSource) peek() (kind, error) {
	s.space()
	if s.pos >= len(s.data) {
		return 0, s.syntaxError("unexpected end of input")
	}
	switch c := s.data[s.pos]; c {
	case '{':
		return kindObject, nil
	case '[':
		return kindArray, nil
	case '"':
		return kindString, nil
	case 't', 'f':
		return kindBool, nil
	case 'n':
		return kindNull, nil
	case '-', 'N', 'I', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return kindNumber, nil
	default:
		return 0, s.syntaxError("unexpected character %q", c)
	}
}

// expect checks the kind of the next value.
func (s *jsonSource) expect(want kind) error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	if k != want {
		return wrongKind(want, k)
	}
	return nil
}

// open consumes the opening bracket of a container.
func (s *jsonSource) open(want kind) error {
	if err := s.expect(want); err != nil {
		return err
	}
	if s.depth >= maxDepth {
		return s.syntaxError("nested more than %d levels deep", maxDepth)
	}
	s.depth++
	s.pos++
	return nil
}

// next consumes a ',' and reports true, or consumes close and reports false.
func (s *jsonSource) next(close byte) (bool, error) {
	s.space()
	if s.pos >= len(s.data) {
		return false, s.syntaxError("unexpected end of input")
	}
	switch c := s.data[s.pos]; c {
	case ',':
		s.pos++
		return true, nil
	case close:
		s.pos++
		s.depth--
		return false, nil
	default:
		return false, s.syntaxError("unexpected character %q, want ',' or %q", c, close)
	}
}

// empty consumes close if it comes next.
func (s *jsonSource) empty(close byte) bool {
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == close {
		s.pos++
		s.depth--
		return true
	}
	return false
}

func (s *jsonSource) object(member func(key string) error) error {
	if err := s.open(kindObject); err != nil {
		return err
	}
	if s.empty('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntaxError("want ':' after key %q", key)
		}
		s.pos++
		if err := member(key); err != nil {
			return err
		}
		more, err := s.next('}')
		if err != nil || !more {
			return err
		}
	}
}

func (s *jsonSource) array(elem func(i int) error) error {
	if err := s.open(kindArray); err != nil {
		return err
	}
	if s.empty(']') {
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		more, err := s.next(']')
		if err != nil || !more {
			return err
		}
	}
}

func (s *jsonSource) str() (string, error) {
	if err := s.expect(kindString); err != nil {
		return "", err
	}
	start := s.pos
	escaped := false
	for s.pos++; s.pos < len(s.data); s.pos++ {
		switch c := s.data[s.pos]; {
		case c == '\\':
			escaped = true
			s.pos++
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				s.pos = start
				return "", s.syntaxError("bad string")
			}
			return v, nil
		case c < 0x20:
			return "", s.syntaxError("control character in string")
		}
	}
	return "", s.syntaxError("unexpected end of input in string")
}

// number consumes a number token: JSON's grammar plus NaN, Infinity and
// -Infinity, which XGBoost writes for non-finite floats.
func (s *jsonSource) number() (string, error) {
	if err := s.expect(kindNumber); err != nil {
		return "", err
	}
	start := s.pos
	for _, word := range []string{"NaN", "Infinity", "-Infinity"} {
		if bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
			s.pos += len(word)
			return word, nil
		}
	}
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			s.pos++
			continue
		}
		break
	}
	if s.pos == start {
		return "", s.syntaxError("bad number")
	}
	return string(s.data[start:s.pos]), nil
}

func (s *jsonSource) f32() (float32, error) {
	start := s.pos
	tok, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(tok, 32)
	if err != nil {
		s.pos = start
		if errors.Is(err, strconv.ErrRange) {
			return 0, s.syntaxError("number %s does not fit in float32", tok)
		}
		return 0, s.syntaxError("bad number %q", tok)
	}
	return float32(v), nil
}

func (s *jsonSource) i64() (int64, error) {
	start := s.pos
	tok, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(tok, 10, 64)
	if err != nil {
		s.pos = start
		return 0, errorf("want an integer, got %s", tok)
	}
	return v, nil
}

func (s *jsonSource) boolean() (bool, error) {
	if err := s.expect(kindBool); err != nil {
		return false, err
	}
	switch {
	case bytes.HasPrefix(s.data[s.pos:], []byte("true")):
		s.pos += 4
		return true, nil
	case bytes.HasPrefix(s.data[s.pos:], []byte("false")):
		s.pos += 5
		return false, nil
	}
	return false, s.syntaxError("bad literal")
}

func (s *jsonSource) skip() error {
	k, err := s.peek()
	if err != nil {
		return err
	}
	switch k {
	case kindObject:
		return s.object(func(string) error { return s.skip() })
	case kindArray:
		return s.array(func(int) error { return s.skip() })
	case kindString:
		_, err = s.str()
	case kindNumber:
		_, err = s.number()
	case kindBool:
		_, err = s.boolean()
	case kindNull:
		if !bytes.HasPrefix(s.data[s.pos:], []byte("null")) {
			return s.syntaxError("bad literal")
		}
		s.pos += 4
	}
	return err
}

func (s *jsonSource) end() error {
	s.space()
	if s.pos != len(s.data) {
		return s.syntaxError("unexpected data after the document")
	}
	return nil
}
