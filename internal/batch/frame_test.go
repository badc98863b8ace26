package batch

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestParseSimpleFloat checks the fast path against strconv on forms it
// takes and that it declines the others.
func TestParseSimpleFloat(t *testing.T) {
	take := []string{"0", "-0", "17.99", "0.07871", "1001.0", "-12.5", "+3", ".5", "5.", "1.2e-05", "3E2", "0.000000000000000001",
		"123456789012345", "0.006399", "1e22", "1e-22", "00012.50"}
	for _, s := range take {
		got, ok := parseSimpleFloat(s)
		want, _ := strconv.ParseFloat(s, 64)
		if !ok || math.Float64bits(got) != math.Float64bits(want) && !(got == 0 && want == 0) {
			t.Errorf("parseSimpleFloat(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", ".", "e5", "1e", "1e+", "1.2.3", "abc", "1,5", "inf", "NaN", "0x10", "1_000",
		"1234567890123456", "1e23", "1e-23", "1e1000"} {
		if v, ok := parseSimpleFloat(s); ok {
			if want, err := strconv.ParseFloat(s, 64); err != nil || want != v {
				t.Errorf("parseSimpleFloat(%q) = %v, true; want it declined or %v", s, v, want)
			}
		}
	}
}

func FuzzParseSimpleFloat(f *testing.F) {
	for _, s := range []string{"17.99", "1.2e-05", "-0.5", "1e22", ".", "9999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseSimpleFloat(s)
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("parseSimpleFloat(%q) = %v; strconv says %v, %v", s, got, want, err)
		}
	})
}

// TestScanDecimal checks the in-record parser against strconv and that
// the field's end is found either way.
func TestScanDecimal(t *testing.T) {
	for _, field := range []string{"17.99", "0.07871", "-12.5", "3", "0", "-0", "1001.0", ".5", "5.", "000.000120",
		"1.2e-05", " 7", "abc", "", "NA", "1.2.3", "12345678901234567890", "0.12345678901234567890123"} {
		rec := []byte("9," + field + ",x")
		v, end, ok := scanDecimal(rec, 2, ',')
		if end != 2+len(field) {
			t.Errorf("%q: end %d; want %d", field, end, 2+len(field))
		}
		if !ok {
			continue
		}
		want, err := strconv.ParseFloat(field, 64)
		if err != nil || math.Float32bits(v) != math.Float32bits(float32(want)) && !(v == 0 && want == 0) {
			t.Errorf("scanDecimal(%q) = %v; strconv says %v, %v", field, v, want, err)
		}
	}
}

func FuzzScanDecimal(f *testing.F) {
	for _, s := range []string{"17.99", "-0.5", "1e5", "00.10", ".", "0.006399", "12345678", "1234567.8", "123456789"} {
		f.Add(s, "")
		f.Add(s, "1234567.9")
	}
	f.Fuzz(func(t *testing.T, field string, tail string) {
		// The record's buffer goes on past it, as a chunk's does: the
		// parser must not read the tail as part of the field.
		buf := []byte(field + ",1" + tail)
		rec := buf[:len(field)+2]
		if len(tail) > 0 && tail[0]&1 == 1 {
			rec = buf[:len(field)] // the field ends the record
		}
		v, end, ok := scanDecimal(rec, 0, ',')
		if end > len(rec) || (end < len(rec) && rec[end] != ',') {
			t.Fatalf("%q: end %d is not a field end", field, end)
		}
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(string(rec[:end]), 64)
		if err != nil || math.Float32bits(v) != math.Float32bits(float32(want)) && !(v == 0 && want == 0) {
			t.Fatalf("scanDecimal(%q) = %v; strconv says %v, %v", rec[:end], v, want, err)
		}
	})
}

// TestScanDecimalRandom compares the parser with strconv on random short
// fields whose buffers go on with digits past the record.
func TestScanDecimalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789012345678901234567890123456789..-e,x "
	for range 200_000 {
		field := make([]byte, rng.IntN(12))
		for k := range field {
			field[k] = alphabet[rng.IntN(len(alphabet))]
		}
		buf := append(append([]byte{}, field...), "9876543.21"...)
		rec := buf[:len(field)]
		v, end, ok := scanDecimal(rec, 0, ',')
		want := bytes.IndexByte(rec, ',')
		if want < 0 {
			want = len(rec)
		}
		if end != want {
			t.Fatalf("%q: end %d; want %d", rec, end, want)
		}
		if !ok {
			continue
		}
		w, err := strconv.ParseFloat(string(rec[:end]), 64)
		if err != nil || math.Float32bits(v) != math.Float32bits(float32(w)) {
			t.Fatalf("scanDecimal(%q) = %v; strconv says %v, %v", rec[:end], v, w, err)
		}
	}
}

func BenchmarkScanDecimal(b *testing.B) {
	rec := []byte("17.99,10.38,122.8,1001.0,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,153.4,0.006399,0.04904\n")
	rec = rec[:len(rec)-1]
	for b.Loop() {
		for i := 0; i < len(rec); {
			_, end, _ := scanDecimal(rec, i, ',')
			i = end + 1
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/number")
}

// TestDecimal32 checks the multiply-first quotient against the division
// it stands for, on random mantissas and on values built to sit next to
// float32 rounding boundaries.
func TestDecimal32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(m uint64, k int) {
		t.Helper()
		want := float32(float64(m) / pow10[k])
		if got := decimal32(m, k); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("decimal32(%d, %d) = %v; want %v", m, k, got, want)
		}
	}
	for range 2_000_000 {
		k := rng.IntN(23)
		switch rng.IntN(3) {
		case 0:
			check(rng.Uint64N(100_000_000), k)
		case 1:
			check(rng.Uint64N(1<<53+1), k)
		default:
			// m/10^k next to a float32 midpoint: take a midpoint, scale it
			// by 10^k and round to an integer.
			f := float64(rng.Float32()*1000) + 1
			mid := math.Float64frombits(math.Float64bits(f)&^(1<<29-1) | 1<<28)
			if m := math.Round(mid * pow10[k%8]); m < 1<<53 {
				for d := -2.0; d <= 2; d++ {
					check(uint64(m+d), k%8)
				}
			}
		}
	}
}

// TestUnquotedMatchesGeneral decodes random unquoted CSV chunks with the
// one-pass decoder and with the general one (records split with quotes in
// mind, fields parsed one by one): every row must get the same features,
// bit for bit, the same kept values and the same reject reason.
func TestUnquotedMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	fields := []string{"17.99", "0.07871", "-12.5", "3", "0", "-0", "1001.0", ".5", "5.", "-.5", "1.2e-05", "3E2",
		" 7", "7 ", "\t1.5", "abc", "", "NA", "nan", "1.2.3", "12345678", "123456789", "1234567.8", "0.000000001",
		"99999999999999999999", "1e39", "-", "+3", "true", "0x10", "1_000", "١", "\v1", "2\f", " ", "Inf", "-inf",
		"1234.567", "12345.67", "9999999.9", "00000000", "0.", "12.", ".", "..", "1..2", "-1234567", "0.1234567", "1.5-"}
	plan := &Plan{Features: []string{"a", "b", "c"}, Keep: []string{"id"}, AllowMissing: true}
	for iter := range 300 {
		var sb strings.Builder
		sb.WriteString("id,a,b,c\n")
		rows := 1 + rng.IntN(40)
		for r := range rows {
			if rng.IntN(15) == 0 {
				sb.WriteString([]string{"", " ", "\t", "\f", " \v ", "\r"}[rng.IntN(6)] + "\n") // a blank line
			}
			n := 4
			if rng.IntN(10) == 0 {
				n = 2 + rng.IntN(5) // a wrong field count now and then
			}
			for k := range n {
				if k > 0 {
					sb.WriteByte(',')
				}
				if k == 0 {
					fmt.Fprintf(&sb, "r%d", r)
					continue
				}
				sb.WriteString(fields[rng.IntN(len(fields))])
			}
			if rng.IntN(4) == 0 {
				sb.WriteByte('\r')
			}
			if r < rows-1 || rng.IntN(3) > 0 {
				sb.WriteByte('\n') // the last record may have no line end
			}
		}
		path := filepath.Join(t.TempDir(), "in.csv")
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, allow := range []bool{true, false} {
			plan.AllowMissing = allow
			in, err := openInput(context.Background(), LocalFS{}, path, FormatCSV, plan, Position{}, Range{}, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := in.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			c := ch.(*csvChunk)
			var fast, gen Frame
			fast.reset(3, 1)
			c.decodeUnquoted(&fast)
			gen.reset(3, 1)
			c.decodeGeneral(&gen, nil)
			in.Close()
			if fast.Rows != gen.Rows {
				t.Fatalf("iteration %d: %d rows one-pass, %d general", iter, fast.Rows, gen.Rows)
			}
			for i := range fast.Rows {
				fe, ge := "", ""
				if len(fast.Err) > 0 {
					fe = fast.Err[i]
				}
				if len(gen.Err) > 0 {
					ge = gen.Err[i]
				}
				if fe != ge {
					t.Fatalf("iteration %d row %d: reason %q one-pass, %q general\n%s", iter, i, fe, ge, sb.String())
				}
				if fast.Kept[0][i] != gen.Kept[0][i] {
					t.Fatalf("iteration %d row %d: kept %v one-pass, %v general", iter, i, fast.Kept[0][i], gen.Kept[0][i])
				}
				if fe != "" {
					continue // a rejected row is not scored
				}
				for k := range 3 {
					a, b := fast.X[i*3+k], gen.X[i*3+k]
					if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
						t.Fatalf("iteration %d row %d feature %d: %v one-pass, %v general\n%s", iter, i, k, a, b, sb.String())
					}
				}
			}
		}
	}
}
