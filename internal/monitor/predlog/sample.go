package predlog

import "math"

// Sampling is decided by a hash of the request id, not by a random draw,
// so that it is the same on every node and after every restart, and so
// that the records of one request (the answer and its shadows) are kept or
// skipped together. Sinks compare the same hash with their own threshold,
// so a request kept at rate 0.01 is also kept by a sink at rate 0.1: a
// sparser sample is a subset of a denser one.

// threshold returns the hash bound below which a record is kept at rate,
// and whether every record is kept.
func threshold(rate float64) (bound uint64, all bool) {
	if rate >= 1 {
		return 0, true
	}
	t := math.Ldexp(rate, 64)
	if t >= math.Ldexp(1, 64) {
		return 0, true
	}
	return uint64(t), false
}

// sampleHash hashes a request id (FNV-1a) and mixes in the seed with the
// splitmix64 finalizer, whose output bits are close to uniform.
func sampleHash(id string, seed uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return mix64(h ^ seed)
}

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
