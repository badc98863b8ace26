package predlog

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkG fails unless appendG writes x as strconv does.
func checkG(t *testing.T, x float64) {
	t.Helper()
	want := strconv.AppendFloat([]byte("x"), x, 'g', -1, 64)
	// A buffer that grows, and one with room to spare.
	for _, b := range [][]byte{[]byte("x"), append(make([]byte, 0, 64), 'x')} {
		if got := appendG(b, x); string(got) != string(want) {
			t.Fatalf("appendG(%v) (bits %#x) = %s, want %s", x, math.Float64bits(x), got[1:], want[1:])
		}
	}
}

func TestAppendGMatchesStrconv(t *testing.T) {
	tests := []struct {
		name string
		// each calls check with its numbers.
		each func(check func(float64))
	}{
		{"special", func(check func(float64)) {
			for _, x := range []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
				math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1022, 1e-5, 9.99999e-5, 1e-4, 0.0001234,
				999999.4, 999999.5, 999999.9, 1e6, 1e6 + 0.5, 123456.7, 0.5, 0.1, 0.42, 2.5e-323} {
				check(x)
				check(-x)
			}
		}},
		{"integers", func(check func(float64)) {
			for i := -1_100_000; i <= 1_100_000; i += 7 {
				check(float64(i))
			}
			for _, x := range []float64{1 << 53, 1<<53 + 2, 1 << 62, 1e21, 1e22, 123456789012} {
				check(x)
				check(-x)
			}
		}},
		{"powers of ten and two and their neighbours", func(check func(float64)) {
			for e := -330; e <= 310; e++ {
				x := math.Pow(10, float64(e))
				for _, y := range []float64{x, math.Nextafter(x, 0), math.Nextafter(x, math.Inf(1)), 5 * x, 1.5 * x, 999999.5 * x} {
					check(y)
					check(-y)
				}
			}
			for e := -1074; e <= 1023; e++ {
				x := math.Ldexp(1, e)
				check(x)
				check(math.Nextafter(x, 0))
				check(math.Nextafter(x, math.Inf(1)))
			}
		}},
		{"float32s", func(check func(float64)) {
			// Every 997th float32, and all of them near the ends of the
			// range appendFixed handles.
			for u := uint64(0); u < 1<<32; u += 997 {
				check(float64(math.Float32frombits(uint32(u))))
			}
			for _, end := range []float64{0x1p-14, 0x1p20, 1e-4, 1e6} {
				u := math.Float32bits(float32(end))
				for v := u - 2000; v < u+2000; v++ {
					check(float64(math.Float32frombits(v)))
				}
			}
		}},
		{"float64s in the fixed range", func(check func(float64)) {
			rng := rand.New(rand.NewPCG(1, 2))
			for range 300_000 {
				m := rng.Uint64() & (1<<52 - 1)
				if rng.IntN(4) == 0 {
					m &^= 1<<rng.IntN(53) - 1 // few digits
				}
				be := uint64(1023 - 15 + rng.IntN(36))
				check(math.Float64frombits(rng.Uint64()&(1<<63) | be<<52 | m))
			}
		}},
		{"any float64", func(check func(float64)) {
			rng := rand.New(rand.NewPCG(3, 4))
			for range 100_000 {
				check(math.Float64frombits(rng.Uint64()))
				check(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(30)-15)))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.each(func(x float64) { checkG(t, x) })
		})
	}
}

func TestAppendTimeMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 3, 4, 5, 6, 7, 890123456, east), time.Date(2026, 3, 4, 5, 6, 7, 100, time.Local),
		time.Date(0, 1, 1, 3, 0, 0, 0, east), // year -1 in UTC
	}
	for range 20000 {
		sec := rng.Int64N(320_000_000_000) - 63_000_000_000 // years 0 to 12000
		ns := rng.Int64N(1e9)
		switch rng.IntN(4) {
		case 0:
			ns = 0
		case 1:
			ns -= ns % 1000
		case 2:
			ns -= ns % int64(math.Pow10(rng.IntN(10)))
		}
		tm := time.Unix(sec, ns)
		if rng.IntN(2) == 0 {
			tm = tm.In(east)
		}
		times = append(times, tm, time.Now().Add(time.Duration(rng.Int64N(1e12))))
	}
	for _, tm := range times {
		want := "null"
		if u := tm.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
			want = `"` + u.Format(time.RFC3339Nano) + `"`
		}
		if got := string(appendTime(nil, tm)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// appendStringByRune is appendString as the rules say it, a rune at a
// time.
func appendStringByRune(b []byte, s string) []byte {
	b = append(b, '"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[r>>4], hexDigits[r&0xf])
		case r == utf8.RuneError && len(s[i:]) > 0 && func() bool { _, n := utf8.DecodeRuneInString(s[i:]); return n == 1 }():
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func TestAppendString(t *testing.T) {
	tests := []string{
		"", "a", "0123456789abcdef0123456789abcdef", `"quoted"`, `back\slash`, "tab\there", "\x00\x01\x1f\x7f",
		"héllo wörld", "\u2028\u2029 line seps", "\xff\xfe invalid", "abcdefg\xe2\x80", "1234567\"", "12345678\\",
		"\x80bcdefgh", "abcdefgh\x1f", "日本語のテキスト", "\ufffd is valid",
	}
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("ab\"\\\n\x01\x1f\x20\x7f\x80\xc3\xa9\xe2\x80\xa8\xff ")
	for range 20000 {
		s := make([]byte, rng.IntN(40))
		for i := range s {
			if rng.IntN(4) == 0 {
				s[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				s[i] = byte('a' + rng.IntN(26))
			}
		}
		tests = append(tests, string(s))
	}
	for _, s := range tests {
		if got, want := string(appendString(nil, s)), string(appendStringByRune(nil, s)); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestSpecial8(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c < 0x20 || c == '"' || c == '\\' || c >= 0x80
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'a', ' ', '~', '!'} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				if got := special8(load8(string(w[:]))); got != want {
					t.Fatalf("special8 of byte %#x at %d among %q = %v, want %v", c, pos, fill, got, want)
				}
			}
		}
	}
}

func TestDigits8AndDecimalLen(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range append([]uint32{0, 1, 9, 10, 99, 100, 9999, 10000, 99999999}, func() []uint32 {
		var ns []uint32
		for range 100000 {
			ns = append(ns, rng.Uint32N(1e8))
		}
		return ns
	}()...) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], digits8(n))
		if got, want := string(b[:]), fmt.Sprintf("%08d", n); got != want {
			t.Fatalf("digits8(%d) = %q, want %q", n, got, want)
		}
	}
	for _, n := range []uint64{0, 1, 9, 10, 11, 99, 100, 1<<63 - 1, 1 << 63, math.MaxUint64, 1e18 - 1, 1e18, 1e19 - 1, 1e19} {
		if got, want := decimalLen(n), len(strconv.FormatUint(n, 10)); got != want {
			t.Errorf("decimalLen(%d) = %d, want %d", n, got, want)
		}
	}
	for range 100000 {
		n := rng.Uint64() >> rng.IntN(64)
		if got, want := decimalLen(n), len(strconv.FormatUint(n, 10)); got != want {
			t.Fatalf("decimalLen(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestPlain checks plain against the bytes appendString escapes, with
// each byte value at each position of strings up to 17 bytes long.
func TestPlain(t *testing.T) {
	for n := 0; n <= 17; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				s := []byte(strings.Repeat("a", n))
				want := true
				if n > 0 {
					s[pos] = byte(c)
					want = c >= 0x20 && c != '"' && c != '\\' && c < 0x80
				}
				if got := plain(string(s)); got != want {
					t.Fatalf("plain(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func TestAppendInt(t *testing.T) {
	ns := []int64{0, 1, -1, 9, 10, -10, 99, 100, 12345678, 99_999_999, 100_000_000, -99_999_999, -100_000_000,
		math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	rng := rand.New(rand.NewPCG(15, 16))
	for range 100000 {
		ns = append(ns, rng.Int64()>>rng.IntN(64), -(rng.Int64() >> rng.IntN(64)))
	}
	for _, n := range ns {
		checkInt(t, n)
	}
}

// checkInt fails unless appendInt writes n as strconv does, onto a
// buffer that grows and one with room to spare.
func checkInt(t *testing.T, n int64) {
	t.Helper()
	want := strconv.AppendInt([]byte("x"), n, 10)
	for _, b := range [][]byte{[]byte("x"), append(make([]byte, 0, 64), 'x')} {
		if got := appendInt(b, n); string(got) != string(want) {
			t.Fatalf("appendInt(%d) = %s, want %s", n, got[1:], want[1:])
		}
	}
}

// TestFloat32Numbers checks that FP32 and FP16 elements are written as
// the shortest decimal of their float32, as the Open Inference Protocol
// answer has them, and read back as the same float32; numbers that are
// not float32 values, and other datatypes, keep float64's form.
func TestFloat32Numbers(t *testing.T) {
	f32 := func(x float32) float64 { return float64(x) }
	tests := []struct {
		name     string
		datatype string
		num      []float64
		want     string // the "num" array
		back     []float64
	}{
		{"FP32 decimals", "FP32", []float64{f32(0.1), f32(0.42), f32(-2.5), f32(1)},
			"[0.1,0.42,-2.5,1]", []float64{f32(0.1), f32(0.42), f32(-2.5), 1}},
		{"FP16 as float32", "FP16", []float64{f32(0.333251953125)}, "[0.33325195]", []float64{f32(0.333251953125)}},
		{"FP32 extremes", "FP32", []float64{f32(1e-7), f32(3.4028235e38), f32(1.4e-45), math.Copysign(0, -1)},
			"[1e-7,3.4028235e+38,1e-45,-0]", []float64{f32(1e-7), f32(3.4028235e38), f32(1.4e-45), math.Copysign(0, -1)}},
		{"FP32 specials", "FP32", []float64{math.NaN(), math.Inf(1), math.Inf(-1)},
			`["NaN","Infinity","-Infinity"]`, []float64{math.NaN(), math.Inf(1), math.Inf(-1)}},
		{"FP32 label on a float64", "FP32", []float64{0.1, 16777217},
			"[0.1,1.6777217e+07]", []float64{f32(0.1), f32(16777217)}},
		{"FP64 keeps float64's digits", "FP64", []float64{f32(0.1)}, "[0.10000000149011612]", []float64{f32(0.1)}},
		{"named feature of unknown type", "", []float64{f32(0.42)}, "[0.41999998688697815]", []float64{f32(0.42)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{RequestID: "r", Endpoint: "e", Inputs: []Value{{Name: "x", Datatype: tt.datatype, Num: tt.num}}}
			line := AppendJSON(nil, &r)
			if !strings.Contains(string(line), `"num":`+tt.want+`}`) {
				t.Fatalf("AppendJSON = %s\nwant num %s", line, tt.want)
			}
			got, err := DecodeLine(line)
			if err != nil {
				t.Fatalf("DecodeLine(%s): %v", line, err)
			}
			if !slices.EqualFunc(got.Inputs[0].Num, tt.back, sameFloat) {
				t.Errorf("read back %v, want %v", got.Inputs[0].Num, tt.back)
			}
		})
	}
}

// sameFloat is == that also matches NaN with NaN and tells -0 from 0.
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}
