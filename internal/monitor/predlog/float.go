package predlog

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// This file writes numbers as strconv.AppendFloat(b, x, 'g', -1, 64)
// does, byte for byte, in less time for the numbers a model is most often
// given and gives back: integers, and numbers from 1e-4 to 1e6, which
// 'g' writes without an exponent. Most of them come from FP32 tensors and
// take 16 or 17 digits as float64s, which strconv's general algorithm and
// layout spend most of a record's encoding time on.

// appendG appends x as strconv.AppendFloat(b, x, 'g', -1, 64) does. It
// may change the bytes of b's capacity after what it appends, up to 24
// bytes after len(b).
func appendG(b []byte, x float64) []byte {
	if -1e6 < x && x < 1e6 {
		if i := int64(x); float64(i) == x && (i != 0 || !math.Signbit(x)) {
			return appendInt(b, i)
		}
	}
	if out, ok := appendFixed(b, x); ok {
		return out
	}
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

// pow10 holds the powers of ten that fit in a uint64.
var pow10 = [20]uint64{
	1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendFixed appends the shortest decimal that reads back as x, in the
// form %g gives it when its exponent is from -4 to 5, and reports whether
// it did; it appends nothing for x outside [2^-14, 2^20) in magnitude, or
// whose decimal %g writes with an exponent.
//
// The decimal is the one strconv's shortest formatting chooses: among the
// decimals of fewest digits that lie within half a unit in the last place
// of x, the one nearest to x, or the even one of two as near. It is found
// with exact integer arithmetic: in the range handled, x times the power
// of ten 10^k that brings it to 17 or 18 digits before the point, and the
// bounds, are integers of at most 126 bits over a power of two.
//
// Like appendG, it may change up to 24 bytes of b's capacity after len(b).
func appendFixed(b []byte, x float64) ([]byte, bool) {
	u := math.Float64bits(x)
	be := int(u>>52) & 0x7ff // biased exponent
	if be < 1023-14 || be >= 1023+20 {
		return b, false
	}
	m := u&(1<<52-1) | 1<<52 // x = ±m·2^(be-1075)
	e10 := ((be - 1023) * 78913) >> 18
	k := 16 - e10 // |x|·10^k is in [10^16, 10^18)
	s := uint(1077 - be)
	// With everything over 2^s: v = 4m·10^k is |x|·10^k; the upper bound is
	// v + 2·10^k, halfway to the next float64; the lower bound is v - 2·10^k,
	// or v - 10^k when m is a power of two, whose float64 below is nearer.
	th, tl := uint64(0), pow10[min(k, 19)] // 10^k
	if k > 19 {
		th, tl = bits.Mul64(pow10[k-19], pow10[19])
	}
	vh, vl := bits.Mul64(m<<2, tl)
	vh += m << 2 * th
	uh, ul := th<<1|tl>>63, tl<<1
	lh, ll := uh, ul
	if m == 1<<52 {
		lh, ll = th, tl
	}
	loL, borrow := bits.Sub64(vl, ll, 0)
	loH, _ := bits.Sub64(vh, lh, borrow)
	hiL, carry := bits.Add64(vl, ul, 0)
	hiH, _ := bits.Add64(vh, uh, carry)
	// The integers from a to c lie within the bounds; there is at least
	// one, as the bounds are more than one apart. Neither bound is an
	// integer: over 2^s, they are 10^k or 2·10^k times an odd number, and
	// s > k+1. So whether a bound reads back as x, as it does when m is
	// even, never matters here.
	a := shiftRight128(loH, loL, s) + 1
	c := shiftRight128(hiH, hiL, s)
	// The fewest digits: the most trailing zeros j that a multiple of
	// 10^j between a and c has. a and c become a and c over 10^j, rounded
	// inward. Most numbers have 16 or 17 digits, and j is 0 or 1, found
	// in one or two steps; for fewer, j is found by halving steps, as when
	// there is a multiple of 10^j there is one of every lower power.
	j := 0
	if a1, c1 := (a+9)/10, c/10; a1 <= c1 {
		a, c, j = a1, c1, 1
		if a1, c1 := (a+9)/10, c/10; a1 <= c1 {
			a, c, j = a1, c1, 2
			if a1, c1 := (a+1e16-1)/1e16, c/1e16; a1 <= c1 {
				a, c, j = a1, c1, j+16
			}
			if a1, c1 := (a+1e8-1)/1e8, c/1e8; a1 <= c1 {
				a, c, j = a1, c1, j+8
			}
			if a1, c1 := (a+1e4-1)/1e4, c/1e4; a1 <= c1 {
				a, c, j = a1, c1, j+4
			}
			if a1, c1 := (a+99)/100, c/100; a1 <= c1 {
				a, c, j = a1, c1, j+2
			}
			if a1, c1 := (a+9)/10, c/10; a1 <= c1 {
				a, c, j = a1, c1, j+1
			}
		}
	}
	// Of the multiples of 10^j next to v, t and t+1 (over 10^j), the one
	// in range, or the nearer one, or the even one.
	q := shiftRight128(vh, vl, s)
	p, t := pow10[j], q
	if j > 0 {
		t /= p
	}
	if t < a {
		t++
	} else if t+1 <= c {
		mh, ml := shiftLeft128((2*t+1)*p, s) // halfway between them
		v2h, v2l := vh<<1|vl>>63, vl<<1
		if v2h > mh || v2h == mh && (v2l > ml || v2l == ml && t&1 == 1) {
			t++
		}
	}
	for t%10 == 0 { // never so, or a multiple of 10^(j+1) would be in range
		t /= 10
		j++
	}
	nd := decimalLen(t)
	dp := nd + j - k // digits before the decimal point
	if dp-1 < -4 || dp-1 >= 6 {
		return b, false // %g writes an exponent
	}
	// The number is laid out in buf around its digits, which end at
	// buf[40], and copied to b in three words: it takes at most 24 bytes,
	// a sign, "0.0000" and 17 digits (the most the shortest decimal of a
	// float64 has).
	var buf [64]byte
	binary.LittleEndian.PutUint64(buf[32:], digits8(uint32(t%1e8))) // t < 10^18: eight digits at a time
	binary.LittleEndian.PutUint64(buf[24:], digits8(uint32(t/1e8%1e8)))
	binary.LittleEndian.PutUint16(buf[22:], uint16(digits8(uint32(t/1e16))>>48))
	start, end := 40-nd, 40
	switch {
	case dp <= 0:
		// "0." and -dp zeros before the digits: the first 2-dp bytes of
		// "0.000000", in the high bytes of a word that ends at the digits.
		const prefix = '0' | '.'<<8 | 0x303030303030<<16
		binary.LittleEndian.PutUint64(buf[start-8:], prefix<<(8*(6+dp)))
		start -= 2 - dp
	case dp >= nd:
		binary.LittleEndian.PutUint64(buf[end:], 0x3030303030303030) // zeros after the digits
		end += dp - nd
	default:
		// The first dp digits move down a byte, and '.' takes the place
		// of the last of them: in the word that begins a byte before the
		// digits, the dp bytes below the point come from the bytes above
		// them, and those above the point stay.
		w := binary.LittleEndian.Uint64(buf[start-1:])
		below := uint64(1)<<(8*dp) - 1
		point := uint64(0xff) << (8 * dp)
		w = w>>8&below | '.'<<(8*dp) | w&^(below|point)
		binary.LittleEndian.PutUint64(buf[start-1:], w)
		start--
	}
	if u>>63 != 0 {
		start--
		buf[start] = '-'
	}
	n := len(b)
	if cap(b)-n < 24 {
		b = slices.Grow(b, 24)
	}
	dst, src := b[n:n+24], buf[start:start+24]
	binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src))
	binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
	binary.LittleEndian.PutUint64(dst[16:], binary.LittleEndian.Uint64(src[16:]))
	return b[:n+end-start], true
}

// digits8 returns the eight decimal digits of n, below 10^8, as the
// bytes of a little-endian uint64: the first digit in the low byte. n is
// split in two numbers of four digits, in 32-bit lanes, and these in two
// of two digits, in 16-bit lanes, and these in digits, in bytes;
// multiplications by 10486/2^20 and 103/2^10 divide by 100 and by 10
// exactly for the numbers they are applied to.
func digits8(n uint32) uint64 {
	x := uint64(n/10000) | uint64(n%10000)<<32
	y := x * 10486 >> 20 & 0x0000007f0000007f
	x = y | (x-y*100)<<16
	y = x * 103 >> 10 & 0x000f000f000f000f
	x = y | (x-y*10)<<8
	return x + 0x3030303030303030
}

// decimalLen returns the number of decimal digits of n.
func decimalLen(n uint64) int {
	l := bits.Len64(n|1) * 1233 >> 12 // n has l or l+1 digits
	if l < len(pow10) && n >= pow10[l] {
		l++
	}
	return max(l, 1)
}

// shiftRight128 returns (h·2^64 + l) / 2^s, for 0 < s < 128 and a quotient
// below 2^64.
func shiftRight128(h, l uint64, s uint) uint64 {
	if s < 64 {
		return l>>s | h<<(64-s)
	}
	return h >> (s - 64)
}

// shiftLeft128 returns x·2^s as h·2^64 + l, for 0 < s < 128 and a product
// below 2^128.
func shiftLeft128(x uint64, s uint) (h, l uint64) {
	if s < 64 {
		return x >> (64 - s), x << s
	}
	return x << (s - 64), 0
}
