package drift

import (
	"errors"
	"math"
	"slices"
)

// KSResult is the outcome of a two-sample Kolmogorov-Smirnov test.
type KSResult struct {
	// Statistic is D, the largest distance between the two empirical CDFs.
	Statistic float64 `json:"statistic"`
	// PValue is the two-sided p-value under the null hypothesis that both
	// samples come from the same continuous distribution.
	PValue float64 `json:"pvalue"`
	// Exact reports whether PValue comes from the exact distribution of D
	// (false: from the asymptotic one).
	Exact bool `json:"exact"`
}

// ksMaxExactN is SciPy's MAX_AUTO_N: method='auto' tries the exact
// distribution when neither sample is larger.
const ksMaxExactN = 10000

// KS2Samp is scipy.stats.ks_2samp(x, y) with its defaults
// (alternative='two-sided', method='auto'), as in SciPy 1.10: the p-value is
// exact when max(len(x), len(y)) <= 10000 (ties do not change that choice),
// falling back to the asymptotic distribution when the exact computation
// fails numerically, and asymptotic for larger samples. Like SciPy, when the
// exact method is used the statistic is rounded to the lattice h/lcm(n1,n2)
// it lives on. Neither sample may be empty or hold NaN; the inputs are not
// modified.
func KS2Samp(x, y []float64) (KSResult, error) {
	if len(x) == 0 || len(y) == 0 {
		return KSResult{}, errors.New("ks_2samp: both samples must be non-empty")
	}
	if slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return KSResult{}, errors.New("ks_2samp: samples must not contain NaN")
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	d := ksStatisticSorted(xs, ys)
	return ksTest(d, len(xs), len(ys), 0), nil
}

// ksStatisticSorted returns max |F1(v) - F2(v)| over every observed v, with
// the ECDF differences formed as SciPy forms them (i/n1 - j/n2).
func ksStatisticSorted(xs, ys []float64) float64 {
	n1, n2 := float64(len(xs)), float64(len(ys))
	var i, j int
	d := 0.0
	for i < len(xs) || j < len(ys) {
		// The next distinct value, and every count up to and including it.
		var v float64
		switch {
		case j >= len(ys) || (i < len(xs) && xs[i] <= ys[j]):
			v = xs[i]
		default:
			v = ys[j]
		}
		for i < len(xs) && xs[i] <= v {
			i++
		}
		for j < len(ys) && ys[j] <= v {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/n1-float64(j)/n2))
	}
	return d
}

// ksTest returns the two-sided result for a statistic d between samples of
// sizes n1 and n2. maxExactWork, when positive, also bounds the size of the
// exact computation (n1*n2 for unequal sizes) before the asymptotic
// distribution is used instead; 0 means SciPy's rule alone.
func ksTest(d float64, n1, n2 int, maxExactWork float64) KSResult {
	exact := max(n1, n2) <= ksMaxExactN
	if exact && maxExactWork > 0 && n1 != n2 && float64(n1)*float64(n2) > maxExactWork {
		exact = false
	}
	if exact {
		p, dl, ok := ksExact(d, n1, n2)
		d = dl
		if ok {
			return KSResult{Statistic: d, PValue: p, Exact: true}
		}
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := m * n / (m + n)
	p := kolmogorovSF(int(math.RoundToEven(en)), d)
	return KSResult{Statistic: d, PValue: clip01(p)}
}

// ksExact is SciPy's _attempt_exact_2kssamp for the two-sided alternative:
// it rounds d to h/lcm(n1, n2) and returns the exact Pr(D >= d), or ok false
// when the computation left [0, 1].
func ksExact(d float64, n1, n2 int) (p, dl float64, ok bool) {
	g := gcd(n1, n2)
	lcm := float64(n1/g) * float64(n2)
	h := int(math.RoundToEven(d * lcm))
	dl = float64(h) / lcm
	if h == 0 {
		return 1, dl, true
	}
	if n1 == n2 {
		p = probOutsideSquare(n1, h)
	} else {
		p = probOutsideInside(n1, n2, g, h)
	}
	if !(p >= 0 && p <= 1) {
		return p, dl, false
	}
	return p, dl, true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// probOutsideSquare returns Pr(D_{n,n} >= h/n), the share of lattice paths
// from (0,0) to (n,n) that touch x-y = ±h:
//
//	2 * (C(2n,n-h) - C(2n,n-2h) + C(2n,n-3h) - ...) / C(2n,n)
//
// evaluated as 2*A0*(1 - A1*(1 - A2*(...))) with each A a ratio of h simple
// factors, which avoids the cancellation of the alternating sum.
func probOutsideSquare(n, h int) float64 {
	P := 0.0
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		P = p1 * (1 - P)
	}
	return 2 * P
}

// probOutsideInside returns Pr(D_{m,n} >= h/lcm(m,n)) for m != n by Hodges'
// inside method, in the form of Viehmann (2021, arXiv:2102.08037) that
// carries 1 - p directly: column by column it keeps only the band of lattice
// points strictly inside |x/m - y/n| < h/lcm, each entry already divided by
// the binomial count of paths reaching it.
func probOutsideInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	fmg := float64(mg)
	minj, maxj := 0, min(int(math.Ceil(float64(h)/fmg)), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	A := make([]float64, lenA)
	for j := range A {
		A[j] = 1
	}
	clear(A[minj:min(maxj, lenA)])
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(int(math.Floor(float64(ng*i-h)/fmg))+1, 0)
		minj = min(minj, n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/fmg)), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		fi := float64(i)
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			// Explicit conversions keep the compiler from fusing into FMA,
			// so the rounding is that of the reference implementation.
			val = (float64(A[jj+minj-lastminj]*fi) + float64(val*float64(j))) / float64(i+j)
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for j := maxj - minj; j < min(maxj-minj+lastlen-curlen, lenA); j++ {
				A[j] = 1
			}
		}
	}
	return A[maxj-minj-1]
}

// ksBinned compares two histograms over the same ordered bins, where bin i
// holds the values in (edge[i-1], edge[i]]. Both ECDFs are known exactly at
// the edges, so
//
//	lower = max over edges |F1(e) - F2(e)|          <= D exact
//	upper = max over bins of the largest gap the
//	        two ECDFs can reach inside the bin      >= D exact
//
// and upper <= lower + the largest mass either histogram puts in one bin.
func ksBinned(c1, c2 []int64) (lower, upper float64, n1, n2 int64) {
	for i := range c1 {
		n1 += c1[i]
		n2 += c2[i]
	}
	if n1 == 0 || n2 == 0 {
		return 0, 0, n1, n2
	}
	f1, f2 := float64(n1), float64(n2)
	var s1, s2 int64 // cumulative counts through the previous bin
	for i := range c1 {
		p1, p2 := float64(s1)/f1, float64(s2)/f2
		s1 += c1[i]
		s2 += c2[i]
		q1, q2 := float64(s1)/f1, float64(s2)/f2
		lower = math.Max(lower, math.Abs(q1-q2))
		// Inside the bin F1 lies in [p1, q1] and F2 in [p2, q2].
		upper = math.Max(upper, math.Max(q1-p2, q2-p1))
	}
	upper = math.Max(upper, lower)
	return lower, upper, n1, n2
}
