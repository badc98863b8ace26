package traffic

import (
	"math"
	"math/bits"
)

// The golden ratio as a 64-bit odd constant: the increment of SplitMix64 and
// a good multiplier for spreading small integers (versions, indexes) over
// 64 bits.
const golden = 0x9E3779B97F4A7C15

// mix64 is the SplitMix64 finalizer (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", 2014): a bijection on uint64 in which
// every input bit affects every output bit.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// rng is SplitMix64: a tiny pseudo-random generator that lives on the stack,
// so samplers seeded per request from the caller's random numbers allocate
// nothing and share no state between goroutines. It is not for
// cryptography.
type rng struct {
	s        uint64
	spare    float64 // second normal from the polar method, valid when hasSpare
	hasSpare bool
}

// newRNG seeds a generator from two uniform words. Different (u1, u2) pairs
// give unrelated streams.
func newRNG(u1, u2 uint64) rng {
	return rng{s: mix64(u1) ^ bits.RotateLeft64(u2, 29)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * 0x1p-53 }

// openFloat returns a uniform float64 in (0, 1).
func (r *rng) openFloat() float64 { return unit(r.next()) }

// intn returns a uniform int in [0, n) by Lemire's multiply-shift.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// unit maps a uniform uint64 to a uniform float64 in the open interval
// (0, 1): the top 52 bits, centred in their cell (with 53 bits the top
// cell's centre would round to 1), so neither 0 nor 1 occurs and
// -ln(unit(x)) is always finite and positive.
func unit(x uint64) float64 { return (float64(x>>12) + 0.5) * 0x1p-52 }

// normal returns a standard normal deviate by Marsaglia's polar method,
// which makes two at a time; the second is kept for the next call.
func (r *rng) normal() float64 {
	if r.hasSpare {
		r.hasSpare = false
		return r.spare
	}
	for {
		x := 2*r.float() - 1
		y := 2*r.float() - 1
		s := x*x + y*y
		if s == 0 || s >= 1 {
			continue
		}
		f := math.Sqrt(-2 * math.Log(s) / s)
		r.spare, r.hasSpare = y*f, true
		return x * f
	}
}

// gamma returns a Gamma(alpha, 1) deviate, alpha > 0, by Marsaglia and
// Tsang, "A simple method for generating gamma variables" (ACM TOMS 26(3),
// 2000). For alpha < 1 it uses their boost: Gamma(alpha) =
// Gamma(alpha+1) * U^(1/alpha).
func (r *rng) gamma(alpha float64) float64 {
	boost := 1.0
	if alpha < 1 {
		boost = math.Pow(r.openFloat(), 1/alpha)
		alpha++
	}
	d := alpha - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.normal()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.openFloat()
		x2 := x * x
		if u < 1-0.0331*x2*x2 || math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return d * v * boost
		}
	}
}

// beta returns a Beta(a, b) deviate from two gamma draws: X/(X+Y) with
// X ~ Gamma(a), Y ~ Gamma(b).
func (r *rng) beta(a, b float64) float64 {
	x := r.gamma(a)
	y := r.gamma(b)
	return x / (x + y)
}

// studentT returns a deviate of Student's t with nu degrees of freedom:
// Z / sqrt(V/nu) with Z standard normal and V ~ chi-square(nu) = 2*Gamma(nu/2).
func (r *rng) studentT(nu float64) float64 {
	z := r.normal()
	v := 2 * r.gamma(nu/2)
	return z / math.Sqrt(v/nu)
}
