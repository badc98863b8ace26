package oip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkReadFloat holds readFloat to readNumber and strconv.ParseFloat on
// the number at the start of body: when readFloat takes the number, it
// must end where readNumber does, and its float64, and the float32 that
// float32Of makes of it when it can, must be strconv's bit for bit.
func checkReadFloat(t *testing.T, body []byte) {
	t.Helper()
	s := scanner{buf: body}
	f, end, ok := s.readFloat()
	if s.pos != 0 {
		t.Fatalf("readFloat(%q) moved the scanner to %d", body, s.pos)
	}
	n, err := s.readNumber()
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("readFloat(%q) = %v, %d; readNumber: %v", body, f, end, err)
	}
	if end != s.pos {
		t.Fatalf("readFloat(%q) ends at %d, readNumber at %d", body, end, s.pos)
	}
	want, err := strconv.ParseFloat(string(n.lit), 64)
	if err != nil || math.Float64bits(f) != math.Float64bits(want) {
		t.Fatalf("readFloat(%q) = %v (%#x), strconv: %v (%#x), %v", body, f, math.Float64bits(f), want, math.Float64bits(want), err)
	}
	if f32, ok := float32Of(f); ok {
		want, err := strconv.ParseFloat(string(n.lit), 32)
		if err != nil || math.Float32bits(f32) != math.Float32bits(float32(want)) {
			t.Fatalf("float32Of of %q = %v, strconv: %v, %v", n.lit, f32, float32(want), err)
		}
	}
}

// checkReadInt holds readInt to readNumber and parseUint on the number at
// the start of body.
func checkReadInt(t *testing.T, body []byte) {
	t.Helper()
	s := scanner{buf: body}
	neg, mag, end, ok := s.readInt()
	if s.pos != 0 {
		t.Fatalf("readInt(%q) moved the scanner to %d", body, s.pos)
	}
	n, err := s.readNumber()
	if !ok {
		return
	}
	if err != nil || !n.isInt {
		t.Fatalf("readInt(%q) = %v, %d; readNumber: %v, integer %v", body, neg, mag, err, n.isInt)
	}
	if end != s.pos {
		t.Fatalf("readInt(%q) ends at %d, readNumber at %d", body, end, s.pos)
	}
	if wneg, wmag, wok := parseUint(n); !wok || neg != wneg || mag != wmag || mag > math.MaxInt64 {
		t.Fatalf("readInt(%q) = %v, %d; parseUint: %v, %d, %v", body, neg, mag, wneg, wmag, wok)
	}
}

func TestReadInt(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
		neg  bool
		mag  uint64
	}{
		{"0", true, false, 0},
		{"-0", true, true, 0},
		{"7,", true, false, 7},
		{"-42]", true, true, 42},
		{"999999999999999999", true, false, 999999999999999999},
		{"-999999999999999999", true, true, 999999999999999999},
		{"1000000000000000000", false, false, 0}, // 19 digits
		{"01", true, false, 0},                   // readNumber stops after the first 0 too
		{"1.0", false, false, 0},
		{"1e3", false, false, 0},
		{"1E3", false, false, 0},
		{"0.5", false, false, 0},
		{"-", false, false, 0},
		{"-a", false, false, 0},
		{"", false, false, 0},
		{"x", false, false, 0},
	}
	for _, tt := range tests {
		s := scanner{buf: []byte(tt.body)}
		neg, mag, _, ok := s.readInt()
		if ok != tt.ok || ok && (neg != tt.neg || mag != tt.mag) {
			t.Errorf("readInt(%q) = %v, %d, %v; want %v, %d, %v", tt.body, neg, mag, ok, tt.neg, tt.mag, tt.ok)
		}
		checkReadInt(t, []byte(tt.body))
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 100000 {
		lit := strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)
		if r.IntN(2) == 0 {
			lit = "-" + lit
		}
		checkReadInt(t, []byte(lit+[]string{"", ",", "]", ".5", "e1", " "}[r.IntN(6)]))
	}
}

func TestReadFloat(t *testing.T) {
	tests := []struct {
		body string
		want float64 // NaN: readFloat leaves the number to readNumber
	}{
		{"0", 0},
		{"-0", math.Copysign(0, -1)},
		{"-0.0", math.Copysign(0, -1)},
		{"1", 1},
		{"0.125,", 0.125},
		{"0.42]", 0.42},
		{"-84.94839}", -84.94839},
		{"12345678", 12345678},
		{"123456789", 123456789},
		{"1234567890123456789", 1234567890123456789}, // above 2^52: Eisel-Lemire
		{"4503599627370495", 4503599627370495},
		{"4503599627370496", 4503599627370496},
		{"0.1234567890123456789", 0.1234567890123456789},
		{"0.10000000149011612", 0.10000000149011612},
		{"-84.94839477539062", -84.94839477539062},
		{"9007199254740993", 9007199254740992},     // halfway: to even
		{"37.944549560546875", 37.944549560546875}, // exactly a float64
		{"9007199254740995", 9007199254740996},
		{"1e-80", 1e-80},
		{"1e-81", math.NaN()}, // beyond the table
		{"1e80", 1e80},
		{"1e81", math.NaN()},
		{"2.2250738585072014e-308", math.NaN()},
		{"5e-324", math.NaN()},
		{"0.000000001234", 0.000000001234},
		{"1e22", 1e22},
		{"1E+22", 1e22},
		{"1e-22", 1e-22},
		{"1e23", 1e23},
		{"1e37", 1e37},
		{"1e38", 1e38},
		{"12e35", 12e35},
		{"1234567890123456e22", 1234567890123456e22}, // the first multiplication is not exact
		{"1e-23", 1e-23},
		{"1.5e0010", math.NaN()}, // a 4-digit exponent
		{"1.5e001", 15},
		{"00", 0}, // readNumber stops after the first 0 too
		{"01.5", 0},
		{"0e5", 0},
		{"-", math.NaN()},
		{"-x", math.NaN()},
		{"1.", math.NaN()},
		{"1.e5", math.NaN()},
		{"1e", math.NaN()},
		{"1e+", math.NaN()},
		{".5", math.NaN()},
		{"+1", math.NaN()},
		{"NaN", math.NaN()},
		{"", math.NaN()},
		{"1.0000000000000000001", math.NaN()}, // 20 digits
		{"10000000000000000000", math.NaN()},
	}
	for _, tt := range tests {
		s := scanner{buf: []byte(tt.body)}
		f, _, ok := s.readFloat()
		switch {
		case math.IsNaN(tt.want) && ok:
			t.Errorf("readFloat(%q) = %v, want it left to readNumber", tt.body, f)
		case !math.IsNaN(tt.want) && (!ok || math.Float64bits(f) != math.Float64bits(tt.want)):
			t.Errorf("readFloat(%q) = %v, %v; want %v", tt.body, f, ok, tt.want)
		}
		checkReadFloat(t, []byte(tt.body))
	}
}

// TestReadFloatRandom checks readFloat on literals of every length, near
// and far from the end of the input, and on the decimal forms of float32
// midpoints, where rounding through float64 would round twice.
func TestReadFloatRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	suffixes := []string{"", ",", "]", " ", ",1.5,2.25,3.125]", "x", "0123456789"}
	for range 200000 {
		lit := digits(1 + r.IntN(12))
		if len(lit) > 1 && lit[0] == '0' {
			lit = lit[1:]
		}
		if r.IntN(4) != 0 {
			lit += "." + digits(1+r.IntN(20-len(lit)))
		}
		if r.IntN(4) == 0 {
			lit += fmt.Sprintf("e%d", r.IntN(90)-45)
		}
		if r.IntN(2) == 0 {
			lit = "-" + lit
		}
		body := []byte(lit + suffixes[r.IntN(len(suffixes))])
		checkReadFloat(t, body)
		checkReadInt(t, body)
	}
	for range 50000 {
		f := math.Float32frombits(r.Uint32() & 0x7effffff)
		next := math.Nextafter32(f, float32(math.Inf(1)))
		mid := (float64(f) + float64(next)) / 2
		checkReadFloat(t, []byte(strconv.FormatFloat(mid, 'g', -1, 64)))
		checkReadFloat(t, []byte(strconv.FormatFloat(float64(f), 'g', -1, 32)+","))
		checkReadFloat(t, []byte(strconv.FormatFloat(float64(f), 'f', -1, 32)))
	}
}

// TestDigitRun holds the word-at-a-time digit reader (word, digitCount
// and digitValue) to a plain loop, for every byte in every position of an
// 8-byte window, and near the end of the input.
func TestDigitRun(t *testing.T) {
	plain := func(b []byte) (v uint64, n int) {
		for ; n < 8 && n < len(b) && '0' <= b[n] && b[n] <= '9'; n++ {
			v = v*10 + uint64(b[n]-'0')
		}
		return v, n
	}
	base := []byte("98765432109")
	for pos := range 9 {
		for c := range 256 {
			b := append([]byte(nil), base...)
			b[pos] = byte(c)
			for _, in := range [][]byte{b, b[:8], b[:pos+1]} {
				w := word(in, 0)
				n := digitCount(w)
				var v uint64
				if n > 0 {
					v = digitValue(w, n)
				}
				wv, wn := plain(in)
				if v != wv || n != wn {
					t.Fatalf("digitCount and digitValue of %q = %d, %d; want %d, %d", in, v, n, wv, wn)
				}
			}
		}
	}
}

// TestReadString checks readString on strings of every length up to 20,
// each with a byte of each kind at each position, against readStringRest
// reading them byte by byte from the start.
func TestReadString(t *testing.T) {
	for n := range 21 {
		for pos := range n + 1 {
			for _, c := range []byte{'a', '"', '\\', 0x1f, 0x7f, 0xc3, 0xff} {
				b := []byte(`"` + strings.Repeat("x", n) + `"` + "\\n\"")
				if pos < n {
					b[1+pos] = c
				}
				for _, in := range [][]byte{b, b[:n+2]} {
					s := scanner{buf: in}
					got, err := s.readString()
					ref := scanner{buf: in}
					want, werr := ref.readStringRest(1, 1)
					if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(werr) || s.pos != ref.pos {
						t.Fatalf("readString(%q) = %q, %v at %d; byte by byte: %q, %v at %d", in, got, err, s.pos, want, werr, ref.pos)
					}
				}
			}
		}
	}
}

// FuzzReadNumber checks readFloat and readInt against readNumber and
// strconv on any input.
func FuzzReadNumber(f *testing.F) {
	for _, s := range []string{"0.125,", "-84.94839", "1e22", "12345678.87654321", "0.000000001234e-5", "4503599627370495", "1.5e001]", "01", "-", "-123456789012345678,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkReadFloat(t, body)
		checkReadInt(t, body)
	})
}
