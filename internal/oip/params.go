package oip

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
)

// Params is the "parameters" object of an inference request. The zero
// value has none.
//
// DecodeInferRequest checks the object as strictly as the rest of the
// body (valid JSON, no duplicate keys, numbers in range) but keeps only a
// copy of its JSON and decodes a member when Lookup or Map asks for it:
// the gateway reads one or two members of most requests, and building a
// map of every member cost more than the rest of the request's decoding.
// Requests that arrive in another form (gRPC) wrap a map with ParamsOf.
type Params struct {
	json []byte         // a checked JSON object, or nil
	m    map[string]any // set by ParamsOf
}

// ParamsOf returns the parameters held in m (nil: none).
func ParamsOf(m map[string]any) Params { return Params{m: m} }

// IsZero reports whether there are no parameters: none given, or null.
// An empty object is not zero.
func (p Params) IsZero() bool { return p.json == nil && p.m == nil }

// Lookup returns the value of the member called name, decoded as Map
// decodes it, and whether there is one.
func (p Params) Lookup(name string) (any, bool) {
	if p.json == nil {
		v, ok := p.m[name]
		return v, ok
	}
	s := &scanner{buf: p.json}
	if s.peek() != '{' || s.enter() != nil {
		return nil, false
	}
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil || !ok {
			return nil, false
		}
		if string(key) == name {
			v, err := s.readAny()
			return v, err == nil
		}
		if err := s.skip(); err != nil {
			return nil, false
		}
	}
}

// Map returns every member: strings, bools, nil, int64 for integers that
// fit, float64 for other numbers, and []any and map[string]any for arrays
// and objects. It is nil when IsZero. A decoded request's map is built on
// each call; the caller may keep or change it.
func (p Params) Map() map[string]any {
	if p.json == nil {
		return p.m
	}
	s := &scanner{buf: p.json}
	m, err := s.readParams(func() string { return "parameters" })
	if err != nil {
		return nil // cannot happen: the decoder checked the object
	}
	return m
}

// Equal reports whether p and q hold the same members with the same
// values.
func (p Params) Equal(q Params) bool {
	if p.IsZero() || q.IsZero() {
		return p.IsZero() == q.IsZero()
	}
	return reflect.DeepEqual(p.Map(), q.Map())
}

// String formats the members as fmt formats Map.
func (p Params) String() string { return fmt.Sprint(p.Map()) }

// checkParams checks the parameters object at s.pos as readParams reads
// it, with the same errors, and returns its JSON, a slice of s.buf (nil
// for null). path names it in errors.
func (s *scanner) checkParams(path func() string) ([]byte, error) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '{':
	default:
		return nil, s.typeError(path(), "an object of parameters")
	}
	start := s.pos
	if err := s.enter(); err != nil {
		return nil, err
	}
	var keys keySet
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil {
			return nil, err
		}
		if !ok {
			return s.buf[start:s.pos], nil
		}
		if keys.add(s, key) {
			return nil, duplicateKey(0, path(), key)
		}
		k := key
		if !s.keyPlain {
			k = bytes.Clone(key) // scratch: the next string reuses it
		}
		if err := s.checkAny(); err != nil {
			return nil, withField(err, path()+"."+string(k))
		}
	}
}

// checkAny checks the value at s.pos as readAny reads it, with the same
// errors (numbers out of a float64's range included), without building it.
func (s *scanner) checkAny() error { return s.walk(true) }

// numberInRange reports whether genericNumber accepts a literal.
func numberInRange(lit []byte, isInt bool) bool {
	if isInt {
		if _, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
			return true
		}
	}
	_, err := strconv.ParseFloat(string(lit), 64)
	return err == nil
}

// hasMember reports whether obj, an object checked by checkParams (or
// nil), has a member called name.
func hasMember(obj []byte, name string) bool {
	if obj == nil {
		return false
	}
	s := &scanner{buf: obj}
	if s.peek() != '{' || s.enter() != nil {
		return false
	}
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil || !ok {
			return false
		}
		if string(key) == name {
			return true
		}
		if s.skip() != nil {
			return false
		}
	}
}
