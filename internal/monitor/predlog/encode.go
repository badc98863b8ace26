package predlog

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/oip"
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
// error are left out. Numbers are written a word at a time, so the bytes
// of b's capacity after what AppendJSON appends may change.
func AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"time":`...)
	b = appendTime(b, r.Time)
	b = append(b, `,"endpoint":`...)
	b = appendString(b, r.Endpoint)
	b = append(b, `,"version":`...)
	b = appendInt(b, int64(r.Version))
	if r.Role != "" {
		b = append(b, `,"role":`...)
		b = appendString(b, r.Role)
	}
	b = append(b, `,"latency_ns":`...)
	b = appendInt(b, r.LatencyNS)
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
	sec := t.Unix()
	if sec < 0 || sec >= maxUnix {
		return appendTimeDate(b, t)
	}
	days, clock := uint64(sec)/86400, uint64(sec)%86400
	year, month, day := date(days)
	var buf [len(`"2006-01-02T15:04:05.999999999Z"`)]byte
	buf[0] = '"'
	put2(buf[1:], year/100)
	put2(buf[3:], year%100)
	buf[5] = '-'
	put2(buf[6:], month)
	buf[8] = '-'
	put2(buf[9:], day)
	buf[11] = 'T'
	put2(buf[12:], clock/3600)
	buf[14] = ':'
	put2(buf[15:], clock/60%60)
	buf[17] = ':'
	put2(buf[18:], clock%60)
	n := 20
	if ns := uint32(t.Nanosecond()); ns != 0 {
		// Nine digits, without the trailing zeros.
		buf[20] = '.'
		buf[21] = byte('0' + ns/1e8)
		d := digits8(ns % 1e8)
		binary.LittleEndian.PutUint64(buf[22:], d)
		// A zero digit is a zero byte of d less '0' in every byte, and
		// the last digits are in its high bytes.
		n = 30 - bits.LeadingZeros64(d-0x3030303030303030)/8
	}
	buf[n], buf[n+1] = 'Z', '"'
	return append(b, buf[:n+2]...)
}

// lastDate holds the date appendTime wrote last: the number of its day
// since 1970-01-01, plus one, in the high 32 bits, and its year<<16 |
// month<<8 | day in the low ones. Records come in time order, and most
// find their date there.
var lastDate atomic.Uint64

// date returns the date of the day since 1970-01-01, a day before
// 10000-01-01.
func date(days uint64) (year, month, day uint64) {
	if d := lastDate.Load(); d>>32 == days+1 {
		return d >> 16 & 0xffff, d >> 8 & 0xff, d & 0xff
	}
	// The date of the day since 0000-03-01: years of 400 of 146097 days,
	// of which the first three centuries lack a leap day, as in a
	// civil_from_days of Howard Hinnant's "chrono-Compatible Low-Level
	// Date Algorithms", in unsigned arithmetic as no day here comes
	// before 1970.
	z := days + 719468
	era, doe := z/146097, z%146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March 1
	mp := (5*doy + 2) / 153                                // month from March
	day = doy - (153*mp+2)/5 + 1
	year, month = era*400+yoe, mp+3
	if month > 12 {
		year, month = year+1, month-12
	}
	lastDate.Store((days+1)<<32 | year<<16 | month<<8 | day)
	return year, month, day
}

// maxUnix is the Unix time of 10000-01-01, the first that RFC 3339 cannot
// write.
const maxUnix = 253402300800

// put2 writes n, from 0 to 99, in two digits at the start of b.
func put2(b []byte, n uint64) {
	_ = b[1]
	b[0], b[1] = digitPairs[2*n], digitPairs[2*n+1]
}

// appendTimeDate is appendTime with the time package's date, for any
// time.
func appendTimeDate(b []byte, t time.Time) []byte {
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
				b = appendInt(b, d)
			}
			b = append(b, ']')
		}
		if len(v.Num) > 0 {
			b = append(b, `,"num":[`...)
			single := v.Datatype == "FP32" || v.Datatype == "FP16"
			for j, x := range v.Num {
				if j > 0 {
					b = append(b, ',')
				}
				if single && float64(float32(x)) == x && !math.IsInf(x, 0) {
					// A float32 element is written as its own shortest
					// decimal ("0.1", not its float64 0.10000000149011612).
					b = oip.AppendFloat32(b, float32(x))
					continue
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

// appendInt appends n in decimal, as strconv.AppendInt(b, n, 10) does,
// writing the digits of n above -10^8 and below 10^8 in one word. It may
// change up to six bytes of b's capacity after what it appends.
func appendInt(b []byte, n int64) []byte {
	if n <= -1e8 || n >= 1e8 {
		return strconv.AppendInt(b, n, 10)
	}
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	if n < 10 {
		return append(b, byte('0'+n))
	}
	k := len(b)
	if cap(b)-k < 8 {
		b = slices.Grow(b, 8)
	}
	nd := decimalLen(uint64(n))
	// The last nd of eight digits, the first in the low byte.
	binary.LittleEndian.PutUint64(b[k:k+8], digits8(uint32(n))>>(8*(8-nd)))
	return b[:k+nd]
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
	if plain(s) {
		n := len(b)
		b = slices.Grow(b, len(s)+2)[:n+len(s)+2]
		b[n] = '"'
		copy(b[n+1:], s)
		b[n+1+len(s)] = '"'
		return b
	}
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

// plain reports whether appendString writes s as it is, between quotes,
// as it does most strings: names, ids, roles. It reads s eight bytes at a
// time, the last eight overlapping those before, and a shorter string in
// one word, with bytes that need no look in the rest of it.
func plain(s string) bool {
	switch n := len(s); {
	case n >= 8:
		for i := 0; i+8 < n; i += 8 {
			if special8(load8(s[i:])) {
				return false
			}
		}
		return !special8(load8(s[n-8:]))
	case n >= 4:
		return !special8(uint64(load4(s)) | uint64(load4(s[n-4:]))<<32)
	case n > 0:
		const pad = 0x2020202020000000 // spaces in the five bytes above s
		return !special8(uint64(s[0]) | uint64(s[n/2])<<8 | uint64(s[n-1])<<16 | pad)
	}
	return true
}

// load4 returns the first four bytes of s, little-endian.
func load4(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
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
