package stream

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// A message becomes one or more instances: a JSON object is one, a JSON
// array of objects or several CSV lines are several. An instance is a flat
// list of named values; nested objects and arrays are refused with the
// field's name. The decoders are written for this one shape so that a
// message costs no reflection and few allocations.

// value kinds.
const (
	kindNull byte = iota
	kindNumber
	kindString
	kindBool
)

// field is one named value of an instance. name and raw point into the
// message (or a decoded copy when the JSON string had escapes), so a field
// costs no allocation.
type field struct {
	name []byte
	kind byte
	num  float64 // number, or 1/0 for a bool
	raw  []byte  // string contents, or the number's text
}

// instance is one decoded row.
type instance struct {
	fields []field
}

func (in *instance) get(name string) (*field, bool) {
	for i := range in.fields {
		if string(in.fields[i].name) == name {
			return &in.fields[i], true
		}
	}
	return nil, false
}

func (in *instance) has(name []byte) bool {
	for i := range in.fields {
		if bytes.Equal(in.fields[i].name, name) {
			return true
		}
	}
	return false
}

// text returns a field as text (a key or an id); "" when absent or null.
func (f *field) text() string {
	switch f.kind {
	case kindString, kindNumber:
		return string(f.raw)
	case kindBool:
		if f.num == 1 {
			return "true"
		}
		return "false"
	}
	return ""
}

// DecodeError is a message that cannot be decoded; it goes to the dead
// letter sink.
type DecodeError struct {
	// Path names the place at fault, like "[2].amount" or "line 3".
	Path string
	Msg  string
}

func (e *DecodeError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func decodeErr(path, format string, args ...any) error {
	return &DecodeError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// maxInstances bounds the instances of one message.
const maxInstances = 10000

// decodeJSON decodes an object, or an array of objects, into instances.
// A field given twice is kept twice; the pipeline refuses a feature given
// twice.
func decodeJSON(b []byte) ([]instance, error) {
	return decodeJSONInto(b, nil, nil)
}

// decodeJSONInto is decodeJSON reusing the field storage buf and the
// instance slice ins (both may be nil); the instances are valid until the
// next call with the same buffers.
func decodeJSONInto(b []byte, buf []field, ins []instance) ([]instance, error) {
	p := jsonParser{b: b, buf: buf[:0]}
	out := ins[:0]
	p.ws()
	if p.i >= len(p.b) {
		return nil, decodeErr("", "empty message: want a JSON object of feature names and values")
	}
	switch p.b[p.i] {
	case '{':
		in, err := p.object("")
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	case '[':
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			return nil, decodeErr("", "empty array: no instances")
		}
		for {
			p.ws()
			if len(out) >= maxInstances {
				return nil, decodeErr("", "more than %d instances in one message", maxInstances)
			}
			path := "[" + strconv.Itoa(len(out)) + "]"
			if p.i >= len(p.b) || p.b[p.i] != '{' {
				return nil, decodeErr(path, "want a JSON object")
			}
			in, err := p.object(path)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.b) && p.b[p.i] == ']' {
				p.i++
				break
			}
			return nil, decodeErr(path, "want ',' or ']' after an element at byte %d", p.i)
		}
	default:
		return nil, decodeErr("", "want a JSON object (or an array of objects), got %q", preview(p.b))
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, decodeErr("", "data after the JSON value at byte %d", p.i)
	}
	return out, nil
}

func preview(b []byte) string {
	if len(b) > 20 {
		b = b[:20]
	}
	return string(b)
}

type jsonParser struct {
	b   []byte
	i   int
	buf []field // storage of the instances' fields
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object parses a flat object at p.i (which is '{').
func (p *jsonParser) object(path string) (in instance, err error) {
	start := len(p.buf)
	defer func() { in.fields = p.buf[start:len(p.buf):len(p.buf)] }()
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return in, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return in, decodeErr(path, "want a field name in quotes at byte %d", p.i)
		}
		var name []byte
		if name, err = p.str(); err != nil {
			return in, decodeErr(path, "field name: %v", err)
		}
		fpath := func() string {
			if path == "" {
				return string(name)
			}
			return path + "." + string(name)
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return in, decodeErr(fpath(), "want ':' after the field name")
		}
		p.i++
		p.ws()
		f := field{name: name}
		if p.i >= len(p.b) {
			return in, decodeErr(fpath(), "unexpected end of message")
		}
		switch c := p.b[p.i]; {
		case c == '"':
			s, err := p.str()
			if err != nil {
				return in, decodeErr(fpath(), "%v", err)
			}
			f.kind, f.raw = kindString, s
		case c == '-' || (c >= '0' && c <= '9'):
			start := p.i
			for p.i < len(p.b) && numberByte(p.b[p.i]) {
				p.i++
			}
			txt := p.b[start:p.i:p.i]
			// The text is only read during the call: no copy is needed.
			v, err := strconv.ParseFloat(unsafe.String(&txt[0], len(txt)), 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return in, decodeErr(fpath(), "bad number %q", txt)
			}
			f.kind, f.num, f.raw = kindNumber, v, txt
		case bytes.HasPrefix(p.b[p.i:], []byte("true")):
			p.i += 4
			f.kind, f.num = kindBool, 1
		case bytes.HasPrefix(p.b[p.i:], []byte("false")):
			p.i += 5
			f.kind = kindBool
		case bytes.HasPrefix(p.b[p.i:], []byte("null")):
			p.i += 4
		case c == '{' || c == '[':
			return in, decodeErr(fpath(), "nested objects and arrays are not supported: give flat feature values")
		default:
			return in, decodeErr(fpath(), "unexpected %q", c)
		}
		p.buf = append(p.buf, f)
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return in, nil
		}
		return in, decodeErr(fpath(), "want ',' or '}' after the value")
	}
}

// numberByte reports whether c may appear in a JSON number.
func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// str parses a JSON string at p.i (which is '"') and returns its
// contents: a slice of the message, or a decoded copy when it has escapes.
func (p *jsonParser) str() ([]byte, error) {
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '\\':
			escaped = true
			p.i += 2
			continue
		case c == '"':
			p.i++
			raw := p.b[start:p.i]
			if !escaped {
				if !utf8.Valid(raw) {
					return nil, errors.New("string is not valid UTF-8")
				}
				return raw[1 : len(raw)-1 : len(raw)-1], nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("bad string %s", raw)
			}
			return []byte(s), nil
		case c < 0x20:
			return nil, errors.New("control character in a string")
		}
		p.i++
	}
	return nil, errors.New("unterminated string")
}

// decodeCSV decodes one or more lines of values in the order of columns.
// An empty value is missing (null).
func decodeCSV(b []byte, columns []string, delim rune) ([]instance, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var out []instance
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, decodeErr("line "+strconv.Itoa(line), "%v", err)
		}
		if len(rec) == 1 && rec[0] == "" {
			continue // blank line
		}
		if len(rec) != len(columns) {
			return nil, decodeErr("line "+strconv.Itoa(line), "%d values, want %d (%s)", len(rec), len(columns), strings.Join(columns, ","))
		}
		if len(out) >= maxInstances {
			return nil, decodeErr("", "more than %d lines in one message", maxInstances)
		}
		in := instance{fields: make([]field, len(columns))}
		for j, v := range rec {
			f := field{name: []byte(columns[j])}
			if v = strings.TrimSpace(v); v != "" {
				f.raw = []byte(v)
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					f.kind, f.num = kindNumber, x
				} else {
					f.kind = kindString
				}
			}
			in.fields[j] = f
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, decodeErr("", "no lines: empty message")
	}
	return out, nil
}

// number returns a feature's value for the model: numbers and booleans as
// they are, null as NaN (missing). Strings are an error.
func (f *field) number(path string) (float64, error) {
	switch f.kind {
	case kindNumber, kindBool:
		return f.num, nil
	case kindNull:
		return math.NaN(), nil
	}
	return 0, decodeErr(path, "want a number, got the string %q", f.raw)
}
