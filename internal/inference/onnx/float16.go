package onnx

import "math"

// ONNX FLOAT16 is IEEE 754 binary16; BFLOAT16 is the upper half of a
// binary32. Both travel as uint16 bit patterns.

// narrowFloat rounds f to the nearest value of a binary format with
// expBits exponent and mantBits mantissa bits (ties to even, with
// subnormals), returning its bit pattern. Values beyond the format's range
// become infinities; NaN stays a quiet NaN.
func narrowFloat(f float64, expBits, mantBits uint) uint64 {
	bias := 1<<(expBits-1) - 1
	maxExp := uint64(1)<<expBits - 1
	b := math.Float64bits(f)
	sign := (b >> 63) << (expBits + mantBits)
	exp := int(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	inf := sign | maxExp<<mantBits
	switch exp {
	case 0x7ff:
		if mant != 0 {
			return inf | 1<<(mantBits-1)
		}
		return inf
	case 0:
		return sign // float64 subnormals are far below the smallest target value
	}
	e := exp - 1023 + bias
	if e >= int(maxExp) {
		return inf
	}
	var m uint64
	var shift uint
	if e >= 1 {
		m = uint64(e)<<52 | mant // the target's exponent sits above the mantissa
		shift = 52 - mantBits
	} else {
		m = mant | 1<<52
		shift = 52 - mantBits + uint(1-e)
		if shift > 63 {
			return sign
		}
	}
	r := m >> shift
	rem := m & (1<<shift - 1)
	mid := uint64(1) << (shift - 1)
	if rem > mid || (rem == mid && r&1 == 1) {
		r++ // a carry into the exponent is the right result, up to infinity
	}
	if r >= maxExp<<mantBits {
		return inf
	}
	return sign | r
}

// float64ToHalf rounds f to FP16 bits.
func float64ToHalf(f float64) uint16 { return uint16(narrowFloat(f, 5, 10)) }

// float64ToBFloat16 rounds f to BFLOAT16 bits.
func float64ToBFloat16(f float64) uint16 { return uint16(narrowFloat(f, 8, 7)) }

// halfToFloat32 returns the exact float32 value of FP16 bits h.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		v := float32(mant) / (1 << 24) // subnormal or zero: exact
		if sign != 0 {
			v = -v
		}
		return v
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// bfloat16ToFloat32 returns the exact float32 value of BFLOAT16 bits h.
func bfloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
