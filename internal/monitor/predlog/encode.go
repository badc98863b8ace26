package predlog

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file writes the JSON form of a record: one object per line in
// segment files, one array element in webhook batches. It is written by
// hand, into a reused buffer, because every logged record goes through it
// on the sink goroutines and reflection-based encoding costs several times
// more CPU; it also keeps NaN and the infinities, which encoding/json
// refuses. DecodeLine reads it back, and the fuzz test checks the round trip.

// AppendJSON appends the JSON object of r to b and returns the extended
// buffer. Field order is fixed: id, time, endpoint, version, role,
// latency_ns, inputs, outputs, error; empty role, inputs, outputs and
// error are left out.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"time":`...)
	b = appendTime(b, r.Time)
	b = append(b, `,"endpoint":`...)
	b = appendString(b, r.Endpoint)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	if r.Role != "" {
		b = append(b, `,"role":`...)
		b = appendString(b, r.Role)
	}
	b = append(b, `,"latency_ns":`...)
	b = strconv.AppendInt(b, r.LatencyNS, 10)
	if len(r.Inputs) > 0 {
		b = append(b, `,"inputs":`...)
		b = appendValues(b, r.Inputs)
	}
	if len(r.Outputs) > 0 {
		b = append(b, `,"outputs":`...)
		b = appendValues(b, r.Outputs)
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, r.Error)
	}
	return append(b, '}')
}

// appendTime writes t in RFC 3339 with nanoseconds, in UTC, as
// t.UTC().AppendFormat(b, time.RFC3339Nano) does; a time outside the
// years RFC 3339 can write is null.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return append(b, "null"...)
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = append2(b, year/100)
	b = append2(b, year%100)
	b = append(b, '-')
	b = append2(b, int(month))
	b = append(b, '-')
	b = append2(b, day)
	b = append(b, 'T')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	if ns := t.Nanosecond(); ns != 0 {
		// Nine digits, without the trailing zeros.
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z', '"')
}

// append2 writes n, from 0 to 99, in two digits.
func append2(b []byte, n int) []byte {
	return append(b, digitPairs[2*n], digitPairs[2*n+1])
}

func appendValues(b []byte, vs []Value) []byte {
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		v := &vs[i]
		b = append(b, `{"name":`...)
		b = appendString(b, v.Name)
		if v.Datatype != "" {
			b = append(b, `,"datatype":`...)
			b = appendString(b, v.Datatype)
		}
		if len(v.Shape) > 0 {
			b = append(b, `,"shape":[`...)
			for j, d := range v.Shape {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, d, 10)
			}
			b = append(b, ']')
		}
		if len(v.Num) > 0 {
			b = append(b, `,"num":[`...)
			for j, x := range v.Num {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, x)
			}
			b = append(b, ']')
		}
		if len(v.Str) > 0 {
			b = append(b, `,"str":[`...)
			for j, s := range v.Str {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendFloat writes x as a JSON number, or NaN and the infinities as the
// strings of the protobuf JSON mapping.
func appendFloat(b []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return append(b, `"NaN"`...)
	case math.IsInf(x, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(x, -1):
		return append(b, `"-Infinity"`...)
	}
	return appendG(b, x)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Control characters, quotes and
// backslashes are escaped, and so are U+2028 and U+2029 (for readers that
// treat JSON as JavaScript); invalid UTF-8 becomes U+FFFD, as encoding/json
// does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip eight bytes at a time while none needs a look.
		for i+8 <= len(s) && !special8(load8(s[i:])) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// load8 returns the first eight bytes of s, little-endian.
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// special8 reports whether one of the eight bytes in w is not written as
// it is by appendString: a control character, a quote, a backslash or a
// byte of a multi-byte UTF-8 sequence (which may be invalid, or U+2028 or
// U+2029).
func special8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below20 := w - 0x20*ones // the high bit is set in a byte below 0x20 (or after one)
	quote := w ^ '"'*ones    // a zero byte where w has a quote
	backslash := w ^ '\\'*ones
	return (w|below20&^w|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}
