package xgboost

import (
	"encoding/binary"
	"math"
	"strconv"
)

// ubjSource reads the Universal Binary JSON that Booster.save_model("x.ubj")
// writes (the default format of XGBoost 2.x). Numbers are big-endian;
// object keys are a length followed by bytes, without the 'S' marker;
// XGBoost writes numeric arrays as typed, counted containers
// ("[$d#L<count>" followed by raw float32s), which this reader supports
// along with the plain forms.
type ubjSource struct {
	data  []byte
	pos   int
	depth int
	// typed holds the element marker of the typed container being read,
	// or 0: the next value then carries no marker of its own.
	typed byte
}

func newUBJSource(data []byte) *ubjSource { return &ubjSource{data: data} }

func (s *ubjSource) syntaxError(format string, args ...any) error {
	err := errorf(format, args...).(*decodeError)
	err.msg += " at offset " + strconv.Itoa(s.pos)
	return err
}

// marker returns the marker of the next value without consuming it,
// skipping no-op markers.
func (s *ubjSource) marker() (byte, error) {
	if s.typed != 0 {
		return s.typed, nil
	}
	for s.pos < len(s.data) && s.data[s.pos] == 'N' {
		s.pos++
	}
	if s.pos >= len(s.data) {
		return 0, s.syntaxError("unexpected end of input")
	}
	return s.data[s.pos], nil
}

// take consumes the marker returned by marker.
func (s *ubjSource) take() {
	if s.typed != 0 {
		s.typed = 0
		return
	}
	s.pos++
}

func markerKind(m byte) (kind, bool) {
	switch m {
	case '{':
		return kindObject, true
	case '[':
		return kindArray, true
	case 'S', 'C':
		return kindString, true
	case 'T', 'F':
		return kindBool, true
	case 'Z':
		return kindNull, true
	case 'i', 'U', 'I', 'l', 'L', 'd', 'D', 'H':
		return kindNumber, true
	}
	return 0, false
}

func (s *ubjSource) peek() (kind, error) {
	m, err := s.marker()
	if err != nil {
		return 0, err
	}
	k, ok := markerKind(m)
	if !ok {
		return 0, s.syntaxError("unknown marker %q", m)
	}
	return k, nil
}

func (s *ubjSource) expect(want kind) (byte, error) {
	m, err := s.marker()
	if err != nil {
		return 0, err
	}
	k, ok := markerKind(m)
	if !ok {
		return 0, s.syntaxError("unknown marker %q", m)
	}
	if k != want {
		return 0, wrongKind(want, k)
	}
	s.take()
	return m, nil
}

// fixed consumes n bytes.
func (s *ubjSource) fixed(n int) ([]byte, error) {
	if n > len(s.data)-s.pos {
		return nil, s.syntaxError("unexpected end of input")
	}
	b := s.data[s.pos : s.pos+n]
	s.pos += n
	return b, nil
}

// size returns the payload size of a scalar marker.
func size(m byte) int {
	switch m {
	case 'i', 'U', 'C':
		return 1
	case 'I':
		return 2
	case 'l', 'd':
		return 4
	case 'L', 'D':
		return 8
	}
	return 0
}

// integer reads the payload of an integer marker.
func (s *ubjSource) integer(m byte) (int64, error) {
	b, err := s.fixed(size(m))
	if err != nil {
		return 0, err
	}
	switch m {
	case 'i':
		return int64(int8(b[0])), nil
	case 'U':
		return int64(b[0]), nil
	case 'I':
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 'L':
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return 0, s.syntaxError("marker %q is not an integer", m)
}

// length reads a marker and an integer: a string length or a count.
func (s *ubjSource) length() (int, error) {
	if s.pos >= len(s.data) {
		return 0, s.syntaxError("unexpected end of input")
	}
	m := s.data[s.pos]
	s.pos++
	n, err := s.integer(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(s.data)) {
		return 0, s.syntaxError("length %d out of range", n)
	}
	return int(n), nil
}

// header reads the optional "$type" and "#count" of a container. count is
// -1 when the container ends with a closing marker instead.
func (s *ubjSource) header() (typ byte, count int, err error) {
	count = -1
	if s.pos < len(s.data) && s.data[s.pos] == '$' {
		s.pos++
		if s.pos >= len(s.data) {
			return 0, 0, s.syntaxError("unexpected end of input")
		}
		typ = s.data[s.pos]
		if _, ok := markerKind(typ); !ok {
			return 0, 0, s.syntaxError("unknown container type %q", typ)
		}
		s.pos++
		if s.pos >= len(s.data) || s.data[s.pos] != '#' {
			return 0, 0, s.syntaxError("typed container without a count")
		}
	}
	if s.pos < len(s.data) && s.data[s.pos] == '#' {
		s.pos++
		if count, err = s.length(); err != nil {
			return 0, 0, err
		}
		// Every element takes at least one byte, or its type's size, so a
		// count larger than what is left is corrupt. Types without payload
		// (true, false, null) are bounded by length's check alone.
		per := 1
		switch typ {
		case 'T', 'F', 'Z':
			per = 0
		default:
			if n := size(typ); n > 0 {
				per = n
			}
		}
		if per > 0 && count > (len(s.data)-s.pos)/per {
			return 0, 0, s.syntaxError("count %d exceeds the remaining input", count)
		}
	}
	return typ, count, nil
}

func (s *ubjSource) object(member func(key string) error) error {
	var typ byte
	return s.containerTyped(kindObject, '}', &typ, func(int) error {
		n, err := s.length()
		if err != nil {
			return err
		}
		b, err := s.fixed(n)
		if err != nil {
			return err
		}
		s.typed = typ
		return member(string(b))
	})
}

func (s *ubjSource) array(elem func(i int) error) error {
	var typ byte
	return s.containerTyped(kindArray, ']', &typ, func(i int) error {
		s.typed = typ
		return elem(i)
	})
}

// containerTyped is container that also reports the element type, so the
// callbacks can mark each value as typed.
func (s *ubjSource) containerTyped(want kind, close byte, typ *byte, each func(i int) error) error {
	if _, err := s.expect(want); err != nil {
		return err
	}
	if s.depth >= maxDepth {
		return s.syntaxError("nested more than %d levels deep", maxDepth)
	}
	s.depth++
	t, count, err := s.header()
	if err != nil {
		return err
	}
	*typ = t
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			for s.pos < len(s.data) && s.data[s.pos] == 'N' {
				s.pos++
			}
			if s.pos >= len(s.data) {
				return s.syntaxError("unexpected end of input")
			}
			if s.data[s.pos] == close {
				s.pos++
				break
			}
		}
		if err := each(i); err != nil {
			return err
		}
		if s.typed != 0 {
			// The callback did not consume its typed value.
			return s.syntaxError("internal: value left unread")
		}
	}
	s.depth--
	return nil
}

func (s *ubjSource) str() (string, error) {
	m, err := s.expect(kindString)
	if err != nil {
		return "", err
	}
	if m == 'C' {
		b, err := s.fixed(1)
		return string(b), err
	}
	n, err := s.length()
	if err != nil {
		return "", err
	}
	b, err := s.fixed(n)
	return string(b), err
}

func (s *ubjSource) f32() (float32, error) {
	m, err := s.expect(kindNumber)
	if err != nil {
		return 0, err
	}
	switch m {
	case 'd':
		b, err := s.fixed(4)
		if err != nil {
			return 0, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
	case 'D':
		b, err := s.fixed(8)
		if err != nil {
			return 0, err
		}
		return float32(math.Float64frombits(binary.BigEndian.Uint64(b))), nil
	case 'H':
		n, err := s.length()
		if err != nil {
			return 0, err
		}
		b, err := s.fixed(n)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseFloat(string(b), 32)
		if err != nil {
			return 0, s.syntaxError("bad number %q", b)
		}
		return float32(v), nil
	}
	v, err := s.integer(m)
	return float32(v), err
}

func (s *ubjSource) i64() (int64, error) {
	m, err := s.expect(kindNumber)
	if err != nil {
		return 0, err
	}
	switch m {
	case 'd', 'D', 'H':
		return 0, errorf("want an integer, got a floating-point number")
	}
	return s.integer(m)
}

func (s *ubjSource) boolean() (bool, error) {
	m, err := s.expect(kindBool)
	return m == 'T', err
}

func (s *ubjSource) skip() error {
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
		_, err = s.f32()
	case kindBool:
		_, err = s.boolean()
	case kindNull:
		s.take()
	}
	return err
}

func (s *ubjSource) end() error {
	if s.typed != 0 || s.pos != len(s.data) {
		return s.syntaxError("unexpected data after the document")
	}
	return nil
}
