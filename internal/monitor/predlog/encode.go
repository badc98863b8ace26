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

// appendTime writes t in RFC 3339 with nanoseconds, in UTC; a time outside
// the years RFC 3339 can write is null.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
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
	return strconv.AppendFloat(b, x, 'g', -1, 64)
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
