package oip

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// This file writes float32 tensor elements, the bulk of most requests
// and responses, as strconv.AppendFloat(dst, float64(x), 'f' or 'e', -1,
// 32) does, byte for byte, in half the time. strconv finds the digits
// quickly, but spends most of its time around that, on what its
// generality needs: it writes them to a decimal buffer one by one, then
// copies them out one by one in the form asked for.

// AppendFloat32 appends x as an element of an FP32 tensor is written: the
// shortest decimal that reads back as x, without an exponent from 1e-6 to
// 1e21, and NaN and ±Inf as null (encoding/json's form for float32). It
// may write into dst's spare capacity beyond what it appends.
func AppendFloat32(dst []byte, x float32) []byte { return appendFloat32(dst, x) }

// appendFloat32 writes x as encoding/json does: the shortest decimal
// that reads back as x, without an exponent from 1e-6 to 1e21, and NaN
// and ±Inf as null.
func appendFloat32(dst []byte, x float32) []byte {
	u := math.Float32bits(x)
	abs := u &^ (1 << 31)
	switch {
	case abs >= 0x7f800000:
		return append(dst, "null"...)
	case abs == 0:
		if u != 0 {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	case abs == 0x39800000:
		// 2^-12 is 0.000244140625, halfway between 0.00024414062 and
		// 0.00024414063, which both read back as it. strconv (Go 1.26)
		// writes the second, where every other tie goes to the even
		// digit: its float32 tie rule for powers of two looks for the
		// exponent of float64's. strconv writes this one, whichever it
		// writes.
		return strconv.AppendFloat(dst, float64(x), 'f', -1, 32)
	}
	be := int(abs >> 23) // biased exponent
	f := abs & (1<<23 - 1)
	var d uint32 // x is ±d × 10^k
	var k int
	if s := uint(150 - be); 127 <= be && be <= 150 && f&(1<<s-1) == 0 {
		// Integers below 2^24 are written as they are: no other number
		// of as many digits or fewer lies within half a unit of them.
		d = (f | 1<<23) >> s
	} else {
		d, k = shortest32(f, be)
	}

	// The text is laid out with stores of 8 bytes, whatever its length,
	// straight into the spare capacity of dst. The digits of d, then
	// '0's, are the 16 bytes of lo and hi, the first digit in the low
	// byte of lo. They are never stored and loaded back: a load that
	// spans several smaller stores waits for them to reach the cache.
	nd := decimalLen32(d)
	lo, hi := digits8(d%1e8), zeros
	if nd == 9 {
		lo, hi = lo<<8|uint64('0'+d/1e8), lo>>56|zeros&^0xff
	} else {
		lo = lo>>uint(64-8*nd) | zeros<<uint(8*nd)
	}
	dp := nd + k // digits before the decimal point
	dst = slices.Grow(dst, 40)
	start := len(dst)
	b := dst[start : start+40]
	sign := int(u >> 31)
	b[0] = '-' // kept only if x is negative
	b = b[sign:]
	n := 0 // the length of the text in b
	if ax := math.Float32frombits(abs); ax < 1e-6 || ax >= 1e21 {
		// d.ddde±XX, with at least two exponent digits after a plus and
		// as few as needed after a minus, as encoding/json writes them.
		b[0], n = byte(lo), 1
		if nd > 1 {
			b[1] = '.'
			put16(b[2:], lo>>8|hi<<56, hi>>8)
			n = nd + 1
		}
		x := dp - 1
		b[n] = 'e'
		switch {
		case x >= 0:
			b[n+1], b[n+2], b[n+3] = '+', digitPairs[2*x], digitPairs[2*x+1]
			n += 4
		case x > -10:
			b[n+1], b[n+2] = '-', byte('0'-x)
			n += 3
		default:
			b[n+1], b[n+2], b[n+3] = '-', digitPairs[-2*x], digitPairs[-2*x+1]
			n += 4
		}
		return dst[:start+sign+n]
	}
	switch {
	case dp <= 0: // 0.000ddd; dp ≥ -5, as x ≥ 1e-6
		binary.LittleEndian.PutUint64(b, zeros&^0xff00|'.'<<8)
		put16(b[2-dp:], lo, hi)
		n = 2 - dp + nd
	case dp >= nd: // ddd000; dp ≤ 21, as x < 1e21
		put16(b, lo, hi)
		binary.LittleEndian.PutUint64(b[16:], zeros)
		n = dp
	default: // ddd.ddd: all the digits, then those after the point again
		put16(b, lo, hi)
		sh := uint(8 * dp) // 8 to 64
		put16(b[dp+1:], lo>>sh|hi<<(64-sh), hi>>sh)
		b[dp] = '.'
		n = nd + 1
	}
	return dst[:start+sign+n]
}

// zeros is eight '0's as the bytes of a uint64.
const zeros uint64 = 0x3030303030303030

// put16 stores lo and hi, little-endian, in the first 16 bytes of b.
func put16(b []byte, lo, hi uint64) {
	binary.LittleEndian.PutUint64(b[:16], lo)
	binary.LittleEndian.PutUint64(b[8:16], hi)
}

// shortest32 returns the shortest decimal d × 10^k that reads back as
// the positive finite float32 of biased exponent be and fraction f: of
// the decimals of fewest digits that lie within half a unit in the last
// place of it, the nearest to it, or the even one of two as near. d has
// no trailing zeros and at most nine digits.
//
// This is the Schubfach algorithm of Raffaello Giulietti ("The Schubfach
// way to render doubles", 2021) as Java's FloatToDecimal has it for
// float32, without Java's rule of at least two digits. With v = c × 2^q,
// the rounding interval has a width of 2^q (3/4 of it when c is a power
// of two, as the float below is nearer); k is chosen so that it holds at
// least one multiple of 10^k and at most one of 10^(k+1). The value and
// the bounds, times 4 × 10^-k, are computed with a 63-bit power of ten
// rounded up and are kept rounded to odd: their integer part and whether
// they have a fraction are then exact, which is all that comparing them
// with even integers needs.
func shortest32(f uint32, be int) (d uint32, k int) {
	c, q := f|1<<23, be-150
	if be == 0 {
		c, q = f, -149
	}
	cb := uint64(c) << 2
	cbl, cbr := cb-2, cb+2 // the bounds, halfway to the floats around
	if f == 0 && be > 1 {
		cbl = cb - 1
		k = (q*631305 - 261663) >> 21 // ⌊log10(3/4 × 2^q)⌋
	} else {
		k = q * 78913 >> 18 // ⌊log10(2^q)⌋
	}
	// The bounds belong to the interval when c is even, as a decimal
	// halfway between two floats reads back as the even one.
	out := uint64(c & 1)
	p := &pow10Table[-k-pow10Min]
	g := p.hi>>1 + 1 // 10^-k × 2^(63-exp2), rounded up
	h := uint(q + p.exp2 + 32)
	vb, vbl, vbr := rop(g, cb<<h), rop(g, cbl<<h), rop(g, cbr<<h)

	// One digit fewer: a multiple of 10^(k+1), sp10 or tp10 (× 10^k), if
	// one is in the interval. It is the only one, so the shortest.
	s := vb >> 2
	sp10 := s / 10 * 10
	tp10 := sp10 + 10
	upin := vbl+out <= sp10<<2
	wpin := tp10<<2+out <= vbr
	if upin != wpin {
		d := sp10
		if wpin {
			d = tp10
		}
		d /= 10
		k++
		for d%10 == 0 {
			d /= 10
			k++
		}
		return uint32(d), k
	}
	// Else s or t = s+1: the one in the interval, or the nearer, or the
	// even one. Neither ends in 0, or it would have been found above.
	t := s + 1
	uin := vbl+out <= s<<2
	win := t<<2+out <= vbr
	if uin != win {
		if win {
			return uint32(t), k
		}
		return uint32(s), k
	}
	if cmp := int64(vb) - int64((s+t)<<1); cmp < 0 || cmp == 0 && s&1 == 0 {
		return uint32(s), k
	}
	return uint32(t), k
}

// rop returns g × cp / 2^95 rounded to odd: its integer part, with the
// lowest bit set if any of the bits below it that the product keeps are.
func rop(g, cp uint64) uint64 {
	x1, _ := bits.Mul64(g, cp)
	return x1>>31 | (x1&(1<<32-1)+(1<<32-1))>>32
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

// decimalLen32 returns the number of decimal digits of n, which is not 0.
func decimalLen32(n uint32) int {
	l := bits.Len32(n) * 1233 >> 12 // n has l or l+1 digits
	if n >= pow10u32[l] {
		l++
	}
	return l
}

// pow10u32 holds the powers of ten that fit in a uint32.
var pow10u32 = [10]uint32{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}
