package drift

import (
	"errors"
	"fmt"
	"math"
)

// ChiSquareResult is the outcome of a chi-square goodness-of-fit test.
type ChiSquareResult struct {
	// Statistic is Pearson's sum of (observed-expected)^2/expected.
	Statistic float64 `json:"statistic"`
	// PValue is Pr(chi2 with DF degrees of freedom > Statistic).
	PValue float64 `json:"pvalue"`
	// DF is the number of categories minus one.
	DF int `json:"df"`
}

// ChiSquare is scipy.stats.chisquare(observed, expected): Pearson's
// statistic and its p-value with len-1 degrees of freedom. Like SciPy it
// requires both to sum to the same total within a relative 1e-8. Unlike
// SciPy it rejects, rather than returning inf or NaN for, an expected
// frequency that is not positive, and fewer than two categories.
func ChiSquare(observed, expected []float64) (ChiSquareResult, error) {
	if len(observed) != len(expected) {
		return ChiSquareResult{}, fmt.Errorf("chisquare: %d observed and %d expected frequencies", len(observed), len(expected))
	}
	if len(observed) < 2 {
		return ChiSquareResult{}, errors.New("chisquare: at least two categories are needed")
	}
	var so, se float64
	for i := range observed {
		if !(observed[i] >= 0) || math.IsInf(observed[i], 0) {
			return ChiSquareResult{}, fmt.Errorf("chisquare: observed[%d] = %v: must be finite and >= 0", i, observed[i])
		}
		if !(expected[i] > 0) || math.IsInf(expected[i], 0) {
			return ChiSquareResult{}, fmt.Errorf("chisquare: expected[%d] = %v: must be finite and > 0", i, expected[i])
		}
		so += observed[i]
		se += expected[i]
	}
	if math.Abs(so-se)/math.Min(so, se) > 1e-8 {
		return ChiSquareResult{}, fmt.Errorf("chisquare: observed total %v and expected total %v differ by more than a relative 1e-8", so, se)
	}
	stat := 0.0
	for i := range observed {
		d := observed[i] - expected[i]
		stat += d * d / expected[i]
	}
	df := len(observed) - 1
	return ChiSquareResult{Statistic: stat, PValue: Chi2SF(stat, float64(df)), DF: df}, nil
}

// Chi2SF returns the survival function of the chi-square distribution with
// df degrees of freedom at x, Q(df/2, x/2) (scipy.stats.chi2.sf).
func Chi2SF(x, df float64) float64 {
	if math.IsNaN(x) || !(df > 0) {
		return math.NaN()
	}
	if x <= 0 {
		return 1
	}
	if math.IsInf(x, 1) {
		return 0
	}
	return GammaIncQ(df/2, x/2)
}

// GammaIncQ returns the regularized upper incomplete gamma function
// Q(a, x) = Γ(a, x)/Γ(a) for a > 0, x >= 0 (scipy.special.gammaincc). Below
// x = a+1 it sums the series of P = 1-Q; above, it evaluates the continued
// fraction of Q by the modified Lentz method, so a small Q keeps its
// relative precision.
func GammaIncQ(a, x float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(x) || a <= 0 || x < 0:
		return math.NaN()
	case x == 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lga, _ := math.Lgamma(a)
	// log of x^a e^-x / Γ(a), the factor in front of both expansions.
	logPre := a*math.Log(x) - x - lga
	if x < a+1 {
		// P(a,x) = x^a e^-x / Γ(a+1) * sum_n x^n / ((a+1)...(a+n))
		term := 1 / a
		sum := term
		for n := 1; n < 1_000_000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-17 {
				break
			}
		}
		return clip01(1 - sum*math.Exp(logPre))
	}
	// Q(a,x) = x^a e^-x / Γ(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	f := d
	for i := 1; i < 1_000_000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < 1e-16 {
			break
		}
	}
	return clip01(math.Exp(logPre) * f)
}
