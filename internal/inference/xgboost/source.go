package xgboost

import (
	"errors"
	"fmt"
	"strings"
)

// kind is the type of the next value in a document.
type kind uint8

const (
	kindNull kind = iota + 1
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	}
	return "nothing"
}

// maxDepth bounds the nesting of arrays and objects. XGBoost documents nest
// about seven levels; the bound keeps a hostile artifact from exhausting
// the stack.
const maxDepth = 64

// A source reads one JSON or UBJSON document as a stream of values, so
// that the model decoder in decode.go serves both encodings and never
// builds a generic tree of the whole document.
//
// Every method consumes exactly one value. Type mismatches are reported as
// *decodeError so the decoder can prefix the field path.
type source interface {
	// peek reports the kind of the next value without consuming it.
	peek() (kind, error)
	// object reads an object, calling member with each key; member must
	// consume the key's value.
	object(member func(key string) error) error
	// array reads an array, calling elem for each element in order; elem
	// must consume the element.
	array(elem func(i int) error) error
	// str reads a string.
	str() (string, error)
	// f32 reads a number rounded to float32 as XGBoost itself does.
	f32() (float32, error)
	// i64 reads an integer.
	i64() (int64, error)
	// boolean reads true or false.
	boolean() (bool, error)
	// skip consumes a value of any kind.
	skip() error
	// end checks that nothing but whitespace follows the document.
	end() error
}

// decodeError is a problem found while decoding, with the path of the
// field it concerns (e.g. "learner.gradient_booster.model.trees[3]").
type decodeError struct {
	path string
	msg  string
}

func (e *decodeError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

// errorf returns a *decodeError without a path.
func errorf(format string, args ...any) error {
	return &decodeError{msg: fmt.Sprintf(format, args...)}
}

// within prefixes the path of a *decodeError with seg, a key or an
// "[i]" index. Other errors pass unchanged.
func within(seg string, err error) error {
	var de *decodeError
	if err == nil || !errors.As(err, &de) {
		return err
	}
	switch {
	case de.path == "":
		de.path = seg
	case strings.HasPrefix(de.path, "["):
		de.path = seg + de.path
	default:
		de.path = seg + "." + de.path
	}
	return err
}

// index formats an array index as a path segment.
func index(i int) string { return fmt.Sprintf("[%d]", i) }

// wrongKind reports a value of the wrong type.
func wrongKind(want, got kind) error {
	return errorf("want %s, got %s", want, got)
}

// readFloat32s reads an array of numbers.
func readFloat32s(s source) ([]float32, error) {
	out := []float32{}
	err := s.array(func(i int) error {
		v, err := s.f32()
		if err != nil {
			return within(index(i), err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// readInts reads an array of integers.
func readInts(s source) ([]int64, error) {
	out := []int64{}
	err := s.array(func(i int) error {
		v, err := s.i64()
		if err != nil {
			return within(index(i), err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// readFlags reads an array of booleans, written as true/false by XGBoost
// 1.0-1.5 and as 0/1 integers since 1.6.
func readFlags(s source) ([]bool, error) {
	out := []bool{}
	err := s.array(func(i int) error {
		k, err := s.peek()
		if err != nil {
			return within(index(i), err)
		}
		var v bool
		switch k {
		case kindBool:
			v, err = s.boolean()
		case kindNumber:
			var n int64
			n, err = s.i64()
			if err == nil && n != 0 && n != 1 {
				err = errorf("want 0 or 1, got %d", n)
			}
			v = n == 1
		default:
			err = wrongKind(kindBool, k)
		}
		if err != nil {
			return within(index(i), err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// readStrings reads an array of strings.
func readStrings(s source) ([]string, error) {
	out := []string{}
	err := s.array(func(i int) error {
		v, err := s.str()
		if err != nil {
			return within(index(i), err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
