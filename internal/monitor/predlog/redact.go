package predlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// Redacted replaces the values of redacted features unless a key is given.
const Redacted = "[redacted]"

// hashChars is how many hex characters of the keyed hash a redacted value
// keeps: 96 bits, enough to join on a value without collisions in
// practice.
const hashChars = 24

// maskedRows is shared by every masked Value of up to len(maskedRows)
// elements, so masking costs no allocation beyond the Inputs copy. It is
// sliced with its capacity cut, so appending to it copies.
var maskedRows = func() []string {
	s := make([]string, 1024)
	for i := range s {
		s[i] = Redacted
	}
	return s
}()

// redactor replaces the values of named input features before a record
// is queued.
type redactor struct {
	names []string // feature names, matched exactly
	key   []byte   // HMAC-SHA256 key; nil masks with Redacted
	macs  sync.Pool
}

func newRedactor(names []string, key []byte) *redactor {
	r := &redactor{names: names, key: key}
	r.macs.New = func() any { return hmac.New(sha256.New, r.key) }
	return r
}

func (r *redactor) match(name string) bool {
	for _, n := range r.names {
		if n == name {
			return true
		}
	}
	return false
}

// apply returns in unchanged when no value needs redacting, else a copy in
// which each named value is replaced; in itself is never modified.
func (r *redactor) apply(in []Value) []Value {
	if len(r.names) == 0 {
		return in
	}
	first := -1
	for i := range in {
		if r.match(in[i].Name) {
			first = i
			break
		}
	}
	if first < 0 {
		return in
	}
	out := make([]Value, len(in))
	copy(out, in)
	for i := first; i < len(out); i++ {
		if r.match(out[i].Name) {
			out[i] = r.redact(&out[i])
		}
	}
	return out
}

// redact keeps a value's name and shape and replaces its elements, with
// Redacted or with their keyed hashes.
func (r *redactor) redact(v *Value) Value {
	n := v.Len()
	out := Value{Name: v.Name, Shape: v.Shape}
	if n == 0 {
		return out
	}
	if r.key == nil {
		if n <= len(maskedRows) {
			out.Str = maskedRows[:n:n]
		} else {
			out.Str = make([]string, n)
			for i := range out.Str {
				out.Str[i] = Redacted
			}
		}
		return out
	}
	mac := r.macs.Get().(hash.Hash)
	defer r.macs.Put(mac)
	var sum [sha256.Size]byte
	var text []byte
	digits := make([]byte, 0, n*hashChars)
	element := func(b []byte) {
		mac.Reset()
		mac.Write(b)
		s := mac.Sum(sum[:0])
		digits = hex.AppendEncode(digits, s[:hashChars/2])
	}
	for _, x := range v.Num {
		text = appendG(text[:0], x)
		element(text)
	}
	for _, s := range v.Str {
		text = append(text[:0], s...)
		element(text)
	}
	all := string(digits) // one allocation shared by every element
	out.Str = make([]string, n)
	for i := range out.Str {
		out.Str[i] = all[i*hashChars : (i+1)*hashChars]
	}
	return out
}
