package drift

import "math"

// PSIEpsilon is the proportion an empty bin counts as in PSI, so that a bin
// that one side never fills adds a large but finite term instead of an
// infinite one. 1e-4 is the value of the common implementations (Evidently,
// the widely copied psi.py).
const PSIEpsilon = 1e-4

// PSI returns the population stability index of actual against expected,
// two histograms over the same bins given as counts (or any non-negative
// weights; each is normalised to sum 1):
//
//	PSI = sum_i (a_i - e_i) * ln(a_i / e_i)
//
// where a proportion of exactly 0 is replaced by PSIEpsilon. PSI is
// symmetric in its arguments and 0 for identical proportions. It returns NaN
// when either histogram is empty or the lengths differ.
func PSI(expected, actual []float64) float64 {
	if len(expected) != len(actual) {
		return math.NaN()
	}
	se, sa := sum(expected), sum(actual)
	if !(se > 0) || !(sa > 0) {
		return math.NaN()
	}
	psi := 0.0
	for i := range expected {
		e, a := expected[i]/se, actual[i]/sa
		if e == 0 {
			e = PSIEpsilon
		}
		if a == 0 {
			a = PSIEpsilon
		}
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// JSDistance returns the Jensen-Shannon distance between two histograms
// over the same bins, in base 2 so that it lies in [0, 1]: the square root
// of the Jensen-Shannon divergence, as scipy.spatial.distance.jensenshannon(p,
// q, base=2) computes it (each input is normalised to sum 1 first). It
// needs no epsilon: a bin empty on one side contributes a finite term. It
// returns NaN when either histogram is empty or the lengths differ.
func JSDistance(p, q []float64) float64 {
	if len(p) != len(q) {
		return math.NaN()
	}
	sp, sq := sum(p), sum(q)
	if !(sp > 0) || !(sq > 0) {
		return math.NaN()
	}
	var left, right float64
	for i := range p {
		pi, qi := p[i]/sp, q[i]/sq
		m := (pi + qi) / 2
		left += relEntr(pi, m)
		right += relEntr(qi, m)
	}
	js := (left + right) / math.Ln2
	return math.Sqrt(math.Max(js/2, 0))
}

// relEntr is scipy.special.rel_entr for x <= 2y, which is all JSDistance
// asks of it.
func relEntr(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(x/y)
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
