package oip

import (
	"fmt"
	"math/rand/v2"
	"testing"
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
