package oip

import (
	"math"
	"math/bits"
)

//go:generate go run pow10_gen.go

// pow10 is a power of ten 10^q as a 128-bit mantissa hi:lo, whose top
// bit is set, and a binary exponent: 10^q lies in [hi:lo, hi:lo + 1) ×
// 2^(exp2-128). The mantissa is exact for q from 0 to 55. shortest32
// uses the top 63 bits of those from 10^-31 to 10^45 to write float32s.
type pow10 struct {
	hi, lo uint64
	exp2   int
}

// eiselLemire returns ±mant × 10^exp correctly rounded to a float64, by
// the algorithm of Michael Eisel and Daniel Lemire ("Number Parsing at a
// Gigabyte per Second", 2021): the product of mant and a 128-bit
// approximation of the power of ten, which a 64×64-bit multiplication
// gives closely enough to round correctly nearly always. ok is false when
// the rounding stays in doubt, when the result is subnormal or out of
// range, and when exp is outside pow10Table; then use strconv, which
// does the same and more. mant is not zero.
func eiselLemire(mant uint64, exp int, neg bool) (f float64, ok bool) {
	if exp < pow10Min || exp > pow10Max {
		return 0, false
	}
	p := &pow10Table[exp-pow10Min]
	// Shift mant so that its top bit is set: the 128-bit product of w and
	// p.hi is then at least 2^126.
	lz := bits.LeadingZeros64(mant)
	w := mant << lz
	hi, lo := bits.Mul64(w, p.hi)
	// The exact product of w and the power lies in [hi:lo, hi:lo + w) (in
	// units of the lowest bit of lo): p.lo and what the table rounds
	// away add less than w. That matters only when it may carry into the
	// bits of hi that decide the result, all ones below bit 9; then take
	// p.lo into account, which leaves an error below 1 in lo.
	if hi&0x1ff == 0x1ff && lo+w < lo {
		hi2, lo2 := bits.Mul64(w, p.lo)
		var carry uint64
		lo, carry = bits.Add64(lo, hi2, 0)
		hi += carry
		if hi&0x1ff == 0x1ff && lo == math.MaxUint64 && lo2+w < lo2 {
			return 0, false
		}
	}
	// Keep 54 bits from the leading 1: the 53 of a float64 and one to
	// round on.
	top := int(hi >> 63)
	m := hi >> (9 + top)
	// Zeros after the rounding bit, as far as the product shows: the
	// exact value may be halfway, to be rounded to even, or above it, to
	// be rounded up. That decides only when the even neighbour is below.
	if lo == 0 && hi&0x1ff == 0 && m&3 == 1 {
		return 0, false
	}
	m = (m + m&1) >> 1 // round half up: ties to even were settled above
	// The value is m × 2^(62 + top + exp2 - lz - 52) and m has 53 bits
	// (or 54 when rounding carried into a new bit); e is the biased
	// exponent of a float64.
	e := 62 + top + p.exp2 - lz + 1023
	if m>>53 != 0 {
		m >>= 1
		e++
	}
	if e <= 0 || e >= 0x7ff {
		return 0, false // subnormal, or out of range
	}
	b := uint64(e)<<52 | m&(1<<52-1)
	if neg {
		b |= 1 << 63
	}
	return math.Float64frombits(b), true
}

// pow5 holds the powers of five below 2^63.
var pow5 = func() (p [28]uint64) {
	p[0] = 1
	for k := 1; k < len(p); k++ {
		p[k] = p[k-1] * 5
	}
	return p
}()

// dyadicFloat64 returns ±mant × 10^exp correctly rounded to a float64
// when the value is an integer n below 2^64 times a power of two 2^exp
// that scales a float64 exactly: n is mant × 5^exp for exp ≥ 0, and
// mant / 5^-exp for exp < 0 when 5^-exp divides mant. Converting n to a
// float64 rounds it correctly, to even on a tie. ok is false for any
// other value.
func dyadicFloat64(mant uint64, exp int, neg bool) (f float64, ok bool) {
	var n uint64
	switch {
	case exp >= 0 && exp < len(pow5):
		hi, lo := bits.Mul64(mant, pow5[exp])
		if hi != 0 {
			return 0, false
		}
		n = lo
	case exp < 0 && -exp < len(pow5) && mant%pow5[-exp] == 0:
		n = mant / pow5[-exp]
	default:
		return 0, false
	}
	f = float64(n) * math.Float64frombits(uint64(1023+exp)<<52) // × 2^exp, |exp| < 28
	if neg {
		f = -f
	}
	return f, true
}
