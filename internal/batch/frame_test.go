package batch

import (
	"math"
	"strconv"
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
		if err != nil || math.Float64bits(v) != math.Float64bits(want) && !(v == 0 && want == 0) {
			t.Errorf("scanDecimal(%q) = %v; strconv says %v, %v", field, v, want, err)
		}
	}
}

func FuzzScanDecimal(f *testing.F) {
	for _, s := range []string{"17.99", "-0.5", "1e5", "00.10", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		rec := []byte(field + ",1")
		v, end, ok := scanDecimal(rec, 0, ',')
		if end > len(rec) || (end < len(rec) && rec[end] != ',') {
			t.Fatalf("%q: end %d is not a field end", field, end)
		}
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(string(rec[:end]), 64)
		if err != nil || math.Float64bits(v) != math.Float64bits(want) && !(v == 0 && want == 0) {
			t.Fatalf("scanDecimal(%q) = %v; strconv says %v, %v", rec[:end], v, want, err)
		}
	})
}
