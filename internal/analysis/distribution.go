package analysis

import (
	"errors"
	"fmt"
	"math"
)

// Histograms are given as per-bucket counts over shared upper bounds, the
// layout of a Prometheus histogram after differencing its cumulative
// buckets (see FromCumulative):
//
//	counts[0]  observations <= bounds[0]
//	counts[i]  observations in (bounds[i−1], bounds[i]]
//	counts[n]  observations > bounds[n−1] (the +Inf bucket), present when
//	           len(counts) == len(bounds)+1
//
// len(counts) == len(bounds) is accepted too, for bounds whose last entry is
// +Inf or that cover every observation.

// dirichletPrior is the Dirichlet concentration per bucket of the
// multinomial mixture (Jeffreys' 1/2).
const dirichletPrior = 0.5

// FromCumulative turns Prometheus-style cumulative bucket counts (each
// counting observations <= its bound, the last one +Inf) into per-bucket
// counts.
func FromCumulative(cum []int64) ([]int64, error) {
	out := make([]int64, len(cum))
	var prev int64
	for i, v := range cum {
		if v < prev {
			return nil, fmt.Errorf("cumulative[%d]: %d is less than the previous bucket's %d", i, v, prev)
		}
		out[i] = v - prev
		prev = v
	}
	return out, nil
}

// checkHistogram validates bounds and counts and returns the total count.
func checkHistogram(field string, bounds []float64, counts []int64) (int64, error) {
	if len(counts) != len(bounds) && len(counts) != len(bounds)+1 {
		return 0, fmt.Errorf("%s: %d counts for %d bucket bounds (want %d or %d)", field, len(counts), len(bounds), len(bounds), len(bounds)+1)
	}
	var n int64
	for i, v := range counts {
		if v < 0 {
			return 0, fmt.Errorf("%s[%d]: count must be >= 0, got %d", field, i, v)
		}
		if v > math.MaxInt64/2-n {
			return 0, fmt.Errorf("%s[%d]: counts too large", field, i)
		}
		n += v
	}
	return n, nil
}

func checkBounds(bounds []float64) error {
	if len(bounds) == 0 {
		return errors.New("bounds: at least one bucket bound is needed")
	}
	for i, b := range bounds {
		if math.IsNaN(b) {
			return fmt.Errorf("bounds[%d]: NaN", i)
		}
		if i > 0 && !(b > bounds[i-1]) {
			return fmt.Errorf("bounds[%d]: %v is not above bounds[%d] = %v", i, b, i-1, bounds[i-1])
		}
	}
	return nil
}

// Quantile estimates the q-quantile of a histogram (per-bucket counts, see
// above) by linear interpolation inside the bucket that holds it, as
// Prometheus' histogram_quantile does: the first bucket starts at 0 (or at
// its bound if that is <= 0), and a quantile in the +Inf bucket is reported
// as the largest finite bound. It returns NaN for an empty histogram,
// mismatched lengths or q outside [0, 1].
func Quantile(bounds []float64, counts []int64, q float64) float64 {
	if !(q >= 0 && q <= 1) || checkBounds(bounds) != nil {
		return math.NaN()
	}
	n, err := checkHistogram("counts", bounds, counts)
	if err != nil || n == 0 {
		return math.NaN()
	}
	return quantile(bounds, counts, n, q)
}

// quantile is Quantile on validated input with total n > 0.
func quantile(bounds []float64, counts []int64, n int64, q float64) float64 {
	rank := q * float64(n)
	var cum int64
	for i, v := range counts {
		if v == 0 || float64(cum+v) < rank {
			cum += v
			continue
		}
		if i >= len(bounds) || math.IsInf(bounds[i], 1) {
			return lastFinite(bounds)
		}
		hi := bounds[i]
		var lo float64
		if i > 0 {
			lo = bounds[i-1]
		} else if hi <= 0 {
			return hi
		}
		return lo + (hi-lo)*(rank-float64(cum))/float64(v)
	}
	return lastFinite(bounds)
}

func lastFinite(bounds []float64) float64 {
	for i := len(bounds) - 1; i >= 0; i-- {
		if !math.IsInf(bounds[i], 0) {
			return bounds[i]
		}
	}
	return 0
}

// logEqualityE is the log of the e-process for "both histograms come from
// the same distribution" (any common distribution, any interleaving of the
// two streams, any traffic split, changed at will). The alternative is
// Lindon and Malek's Dirichlet-multinomial mixture, fitted to each side
// separately; the unknown common distribution under the null is replaced by
// its maximum-likelihood estimate from both sides together (universal
// inference), whose likelihood is at least the true one, so the ratio is
// bounded by a test martingale and Ville's inequality applies exactly, with
// no asymptotics.
func logEqualityE(cand, base []int64, nc, nb int64) float64 {
	k := float64(len(cand))
	a := dirichletPrior
	lg := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	lgA := lg(a)
	e := 2*lg(k*a) - lg(k*a+float64(nc)) - lg(k*a+float64(nb))
	n := float64(nc + nb)
	for j := range cand {
		x, y := cand[j], base[j]
		if x > 0 {
			e += lg(a+float64(x)) - lgA
		}
		if y > 0 {
			e += lg(a+float64(y)) - lgA
		}
		if s := float64(x + y); s > 0 {
			e -= s * math.Log(s/n)
		}
	}
	return e
}

// dominance returns the estimate d = P(C > B) − P(C < B) for a random
// candidate observation C and baseline observation B (ties in a bucket
// count as neither), and the variance of the estimate from the two-sample
// U-statistic's placement values (DeLong-style), floored so that a
// histogram with everything in one bucket does not look certain.
func dominance(cand, base []int64, nc, nb int64) (d, s2 float64) {
	fc, fb := float64(nc), float64(nb)
	// First pass: d from candidate placements ψ_j = P(B < j) − P(B > j).
	var below int64
	var sum, sumSq float64
	for j := range cand {
		above := nb - below - base[j]
		psi := (float64(below) - float64(above)) / fb
		x := float64(cand[j])
		sum += x * psi
		sumSq += x * psi * psi
		below += base[j]
	}
	d = sum / fc
	vc := (sumSq - fc*d*d) / math.Max(fc-1, 1)
	// Baseline placements φ_j = P(C > j) − P(C < j); their mean is d too.
	below = 0
	var sumSqB float64
	for j := range base {
		above := nc - below - cand[j]
		phi := (float64(above) - float64(below)) / fc
		sumSqB += float64(base[j]) * phi * phi
		below += cand[j]
	}
	vb := (sumSqB - fb*d*d) / math.Max(fb-1, 1)
	vc = math.Max(vc, 1/(fc+2))
	vb = math.Max(vb, 1/(fb+2))
	return d, vc/fc + vb/fb
}

// CompareDistributions compares two histograms of a latency-like metric
// with the same bucket bounds (per-bucket counts; see FromCumulative for
// Prometheus' cumulative ones). Candidate and Baseline report the
// c.Quantile quantile (p99 by default); Difference, Lower and Upper are the
// dominance d = P(candidate worse) − P(candidate better) of a random
// candidate observation over a random baseline one, in [−1, 1], with its
// confidence sequence (0 = neither tends to be worse).
//
// Fail needs three things at once: the sequential Dirichlet-multinomial
// test rejects equality in distribution at Alpha (exact, after Lindon and
// Malek), the dominance confidence sequence lies above 0 (the candidate is
// worse, not merely different), and the candidate's quantile exceeds the
// baseline's by more than the tolerance. So a faster candidate never fails
// on the first two grounds. Pass needs the dominance confidence sequence
// below c.Margin and the candidate's quantile within tolerance.
func CompareDistributions(metric string, cand, base []int64, bounds []float64, c Criterion) Result {
	c, err := c.withDefaults()
	if err != nil {
		return invalid(metric, TestDistributions, c.Alpha, err.Error())
	}
	if err := checkBounds(bounds); err != nil {
		return invalid(metric, TestDistributions, c.Alpha, err.Error())
	}
	nc, err := checkHistogram("candidate", bounds, cand)
	if err != nil {
		return invalid(metric, TestDistributions, c.Alpha, err.Error())
	}
	nb, err := checkHistogram("baseline", bounds, base)
	if err != nil {
		return invalid(metric, TestDistributions, c.Alpha, err.Error())
	}
	if len(cand) != len(base) {
		return invalid(metric, TestDistributions, c.Alpha, fmt.Sprintf("candidate has %d buckets and baseline %d: both must use the same bounds", len(cand), len(base)))
	}
	r := Result{
		Metric: metric, Test: TestDistributions, Alpha: c.Alpha,
		CandidateN: nc, BaselineN: nb, PValue: 1,
		Statistic: "dominance P(candidate worse) − P(candidate better)",
	}
	if nc == 0 || nb == 0 {
		r.Lower, r.Upper = -1, 1
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("no data yet: candidate has %d observations, baseline %d", nc, nb)
		return r.sanitize()
	}
	r.Candidate = quantile(bounds, cand, nc, c.Quantile)
	r.Baseline = quantile(bounds, base, nb, c.Quantile)

	s := c.sign()
	d, s2 := dominance(cand, base, nc, nb)
	d *= s // positive = candidate worse
	m := newMixture(c.Alpha, c.Horizon)
	t := effectiveN(nc, nb)
	h := m.halfWidth(s2, t)
	pDom := m.oneSidedP(d, s2, t)
	pEq := math.Min(1, math.Exp(-logEqualityE(cand, base, nc, nb)))
	r.PValue = math.Max(pEq, pDom)
	// Report the dominance oriented as "candidate higher" like the other
	// differences (candidate − baseline), whatever the direction.
	r.Difference = s * d
	lo, hi := d-h, d+h
	if s < 0 {
		r.Lower, r.Upper = -hi, -lo
	} else {
		r.Lower, r.Upper = lo, hi
	}
	r.Lower, r.Upper = math.Max(r.Lower, -1), math.Min(r.Upper, 1)

	tol := c.Tolerance
	if c.Relative {
		tol = c.Tolerance * math.Abs(r.Baseline)
	}
	qWorse := s*(r.Candidate-r.Baseline) > tol
	enough := nc >= c.MinSamples && nb >= c.MinSamples
	switch {
	case !enough:
		r.Decision = Inconclusive
	case pEq <= c.Alpha && lo > 0 && qWorse:
		r.Decision = Fail
	case hi < c.Margin && !qWorse:
		r.Decision = Pass
	default:
		r.Decision = Inconclusive
	}
	var b sentence
	b.b = make([]byte, 0, 384)
	b.str("candidate p").num(100*c.Quantile, 4).str(" ").num(r.Candidate, 4).str(" (n=").int(nc).
		str(") vs baseline ").num(r.Baseline, 4).str(" (n=").int(nb).
		str("); dominance ").num(r.Difference, 3).str(", ").level(c.Alpha).str(" confidence sequence ").
		interval(r.Lower, r.Upper, 3).str("; equality p = ").num(pEq, 3)
	switch {
	case !enough:
		b.str("; waiting for ").int(c.MinSamples).str(" observations on each side before deciding")
	case r.Decision == Fail:
		b.str(": the candidate's distribution is worse and its p").num(100*c.Quantile, 4).
			str(" exceeds the baseline's by more than the tolerated ").tol(c)
	case r.Decision == Pass:
		b.str(": the candidate is not worse by more than the margin ").num(c.Margin, 3).
			str(" and its p").num(100*c.Quantile, 4).str(" is within the tolerated ").tol(c)
	case pEq <= c.Alpha && lo > 0:
		b.str(": the candidate's distribution is worse, but its p").num(100*c.Quantile, 4).
			str(" is within the tolerated ").tol(c).str("; keep watching")
	default:
		b.str(": not yet sure; keep watching")
	}
	r.Reason = b.String()
	return r.sanitize()
}
