package oip

import (
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPow10Table checks every entry of the generated table with exact
// arithmetic: 10^q lies in [m, m+1) × 2^(exp2-128), m having its top bit
// set.
func TestPow10Table(t *testing.T) {
	if len(pow10Table) != pow10Max-pow10Min+1 {
		t.Fatalf("pow10Table has %d entries for exponents %d to %d", len(pow10Table), pow10Min, pow10Max)
	}
	ten := big.NewInt(10)
	for i, p := range pow10Table {
		q := pow10Min + i
		if p.hi>>63 != 1 {
			t.Fatalf("1e%d: top bit of %#x not set", q, p.hi)
		}
		m := new(big.Int).Lsh(new(big.Int).SetUint64(p.hi), 64)
		m.Or(m, new(big.Int).SetUint64(p.lo))
		m1 := new(big.Int).Add(m, big.NewInt(1))
		// Compare num/den with m × 2^sh and (m+1) × 2^sh, all as integers.
		num := new(big.Int).Exp(ten, big.NewInt(int64(max(q, 0))), nil)
		den := new(big.Int).Exp(ten, big.NewInt(int64(max(-q, 0))), nil)
		if sh := p.exp2 - 128; sh >= 0 {
			m.Lsh(m, uint(sh))
			m1.Lsh(m1, uint(sh))
		} else {
			num.Lsh(num, uint(-sh))
		}
		m.Mul(m, den)
		m1.Mul(m1, den)
		if m.Cmp(num) > 0 || num.Cmp(m1) >= 0 {
			t.Fatalf("1e%d: not in [m, m+1) × 2^%d", q, p.exp2-128)
		}
	}
}

// checkDecimal holds decimalFloat64 to strconv.ParseFloat for ±mant ×
// 10^exp, and float32Of to ParseFloat(…, 32). It reports whether
// decimalFloat64 gave a result.
func checkDecimal(t *testing.T, mant uint64, exp int, neg bool) bool {
	t.Helper()
	lit := strconv.FormatUint(mant, 10) + "e" + strconv.Itoa(exp)
	if neg {
		lit = "-" + lit
	}
	f, ok := decimalFloat64(mant, exp, neg)
	if !ok {
		return false
	}
	want, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.Float64bits(f) != math.Float64bits(want) {
		t.Fatalf("decimalFloat64(%s) = %v (%#x), strconv: %v (%#x), %v", lit, f, math.Float64bits(f), want, math.Float64bits(want), err)
	}
	if f32, ok := float32Of(f); ok {
		want, err := strconv.ParseFloat(lit, 32)
		if err != nil || math.Float32bits(f32) != math.Float32bits(float32(want)) {
			t.Fatalf("float32Of(%s) = %v, strconv: %v, %v", lit, f32, float32(want), err)
		}
	}
	return true
}

// TestEiselLemire checks decimalFloat64 against strconv on mantissas of
// every length and every exponent of the table and around it, on the
// decimals closest to float64 and float32 midpoints, where rounding is
// hardest, and on exact float64 midpoints, which must round to even.
func TestEiselLemire(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const maxMant = 1e19 - 1
	converted, tried := 0, 0
	for range 300000 {
		mant := r.Uint64N(maxMant) >> r.IntN(64)
		exp := pow10Min - 10 + r.IntN(pow10Max-pow10Min+21)
		tried++
		if checkDecimal(t, mant, exp, r.IntN(2) == 0) {
			converted++
		}
	}
	// Nearly every decimal in range converts without strconv.
	if converted < tried*85/100 {
		t.Errorf("decimalFloat64 converted %d of %d decimals", converted, tried)
	}
	// The 17 to 19 digits nearest to midpoints between float64s and
	// between float32s, and a unit of the last digit either side.
	for range 100000 {
		var lo, hi float64
		if r.IntN(2) == 0 {
			lo = math.Float64frombits(r.Uint64N(0x7fe0000000000000))
			hi = math.Nextafter(lo, math.Inf(1))
		} else {
			f := math.Float32frombits(r.Uint32N(0x7f000000))
			lo, hi = float64(f), float64(math.Nextafter32(f, float32(math.Inf(1))))
		}
		mid := new(big.Float).SetPrec(200).SetFloat64(lo)
		mid.Add(mid, new(big.Float).SetFloat64(hi)).Quo(mid, big.NewFloat(2))
		digits := 17 + r.IntN(3)
		s := mid.Text('e', digits-1) // d.ddd…e±x
		mant, err := strconv.ParseUint(s[:1]+s[2:digits+1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := strconv.Atoi(s[digits+2:])
		if err != nil {
			t.Fatal(err)
		}
		exp -= digits - 1
		for _, m := range []uint64{mant - 1, mant, mant + 1} {
			checkDecimal(t, m, exp, false)
		}
	}
	// Exact midpoints that are integers of at most 19 digits: odd
	// multiples of half a unit in the last place, from 2^53 on. They must
	// round to even.
	taken, left := 0, 0
	for shift := range 11 {
		for range 2000 {
			k := r.Uint64N(1<<52) | 1
			m := (1<<53 | k) << shift
			if bits.Len64(m) > 63 || m > maxMant {
				continue
			}
			exp := 0
			for m%10 == 0 {
				m, exp = m/10, exp+1
			}
			if !checkDecimal(t, m, exp, false) {
				t.Fatalf("decimalFloat64(%de%d) left to strconv", m, exp)
			}
			if _, ok := eiselLemire(m, exp, false); ok {
				taken++
			} else {
				left++
			}
		}
	}
	// Eisel-Lemire takes midpoints that round up to even and leaves
	// those that round down, which the product cannot tell from a value
	// just above, to dyadicFloat64.
	if taken == 0 || left == 0 {
		t.Errorf("eiselLemire took %d exact midpoints and left %d; want some of each", taken, left)
	}
}

// TestDyadicFloat64 checks the decimals that are exactly an integer times
// a power of two, which Eisel-Lemire cannot always round, against
// strconv.
func TestDyadicFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 200000 {
		k := r.IntN(len(pow5))
		n := r.Uint64() >> r.IntN(64)
		if r.IntN(2) == 0 {
			// n × 2^-k, written as n × 5^k × 10^-k.
			hi, mant := bits.Mul64(n, pow5[k])
			if hi != 0 || mant >= 1e19 {
				continue
			}
			if !checkDecimal(t, mant, -k, r.IntN(2) == 0) {
				t.Fatalf("decimalFloat64(%de-%d) left to strconv", mant, k)
			}
			continue
		}
		mant := n % 1e19
		if hi, _ := bits.Mul64(mant, pow5[k]); hi == 0 && !checkDecimal(t, mant, k, false) {
			t.Fatalf("decimalFloat64(%de%d) left to strconv", mant, k)
		}
	}
	// Converting integers of 64 bits rounds to even.
	for _, n := range []uint64{1<<53 + 1, 1<<53 + 3, 1<<63 + 1<<10, 1<<63 + 3<<10, 1<<64 - 1, 1<<64 - 1<<11, 1<<64 - 1<<10} {
		got, _ := dyadicFloat64(n, 0, false)
		want, _ := strconv.ParseFloat(strconv.FormatUint(n, 10), 64)
		if got != want {
			t.Errorf("dyadicFloat64(%d, 0) = %v, want %v", n, got, want)
		}
	}
	for _, tt := range []struct {
		mant uint64
		exp  int
	}{{1, 28}, {1, -28}, {3, -1}, {1<<63 + 1, 1}} {
		if f, ok := dyadicFloat64(tt.mant, tt.exp, false); ok {
			t.Errorf("dyadicFloat64(%d, %d) = %v, want it left", tt.mant, tt.exp, f)
		}
	}
}

// FuzzDecimalFloat64 checks decimalFloat64 against strconv for any
// mantissa of up to 19 digits and exponents from -99 to 99.
func FuzzDecimalFloat64(f *testing.F) {
	f.Add(uint64(1), int16(0), false)
	f.Add(uint64(9007199254740993), int16(0), false)
	f.Add(uint64(10000000149011612), int16(-17), true)
	f.Add(uint64(1234567890123456789), int16(-80), false)
	f.Add(uint64(17976931348623157), int16(292), false)
	f.Fuzz(func(t *testing.T, mant uint64, exp int16, neg bool) {
		// Exponents around the table's, and mantissas of up to 19 digits.
		checkDecimal(t, mant%1e19, int(exp)%100, neg)
	})
}
