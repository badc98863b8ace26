package traffic

import (
	"math"
	"testing"
)

// chiSquare999 holds the 99.9% quantiles of the chi-square distribution by
// degrees of freedom (index 0 unused): a goodness-of-fit statistic above
// them has less than a 0.1% chance under the hypothesis. The values are
// the upper-tail 0.001 column of NIST/SEMATECH e-Handbook of Statistical
// Methods, table 1.3.6.7.4 ("Critical values of the chi-square
// distribution"); TestChiSquareCriticalValues recomputes them.
var chiSquare999 = [...]float64{0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458}

// chiSquareSF is the chi-square distribution's upper tail P(X > x) for k
// degrees of freedom, by its closed forms for whole k: for even k,
// e^(-x/2) * sum_{i<k/2} (x/2)^i/i!; for odd k,
// erfc(sqrt(x/2)) + e^(-x/2) * sum_{i=1}^{(k-1)/2} (x/2)^(i-1/2)/Γ(i+1/2).
func chiSquareSF(x float64, k int) float64 {
	h := x / 2
	if k%2 == 0 {
		sum, term := 0.0, 1.0
		for i := 0; i < k/2; i++ {
			if i > 0 {
				term *= h / float64(i)
			}
			sum += term
		}
		return math.Exp(-h) * sum
	}
	q := math.Erfc(math.Sqrt(h))
	for i := 1; i <= (k-1)/2; i++ {
		q += math.Exp(-h) * math.Pow(h, float64(i)-0.5) / math.Gamma(float64(i)+0.5)
	}
	return q
}

func TestChiSquareCriticalValues(t *testing.T) {
	for k := 1; k < len(chiSquare999); k++ {
		if got := chiSquareSF(chiSquare999[k], k); math.Abs(got-0.001) > 2e-6 {
			t.Errorf("P(chi2(%d) > %g) = %.7f, want 0.001", k, chiSquare999[k], got)
		}
	}
}

// chiSquare returns Pearson's goodness-of-fit statistic for observed
// counts against expected probabilities (which sum to 1), and its degrees
// of freedom: len-1. Categories with probability 0 must be empty; a
// non-empty one makes the statistic +Inf.
func chiSquare(observed []int, probs []float64) (stat float64, dof int) {
	n := 0
	for _, o := range observed {
		n += o
	}
	cells := 0
	for i, o := range observed {
		if probs[i] == 0 {
			if o != 0 {
				return math.Inf(1), 0
			}
			continue
		}
		cells++
		e := float64(n) * probs[i]
		stat += (float64(o) - e) * (float64(o) - e) / e
	}
	return stat, cells - 1
}

// checkChiSquare fails t when counts do not fit probs at the 99.9% level,
// and logs the statistic.
func checkChiSquare(t *testing.T, what string, observed []int, probs []float64) {
	t.Helper()
	stat, dof := chiSquare(observed, probs)
	if dof == 0 {
		if math.IsInf(stat, 1) {
			t.Errorf("%s: counts %v put traffic where the probability is 0 (%v)", what, observed, probs)
		}
		return
	}
	crit := chiSquare999[dof]
	t.Logf("%s: chi2 = %.3f (dof %d, 99.9%% critical %.3f), counts %v", what, stat, dof, crit, observed)
	if stat > crit {
		t.Errorf("%s: chi2 = %.3f > %.3f (dof %d): counts %v do not fit %v", what, stat, crit, dof, observed, probs)
	}
}

// independence returns Pearson's chi-square statistic for independence in
// a 2x2 table (dof 1).
func independence(t [2][2]int) float64 {
	n := float64(t[0][0] + t[0][1] + t[1][0] + t[1][1])
	var stat float64
	for i := range 2 {
		for j := range 2 {
			row := float64(t[i][0] + t[i][1])
			col := float64(t[0][j] + t[1][j])
			e := row * col / n
			stat += (float64(t[i][j]) - e) * (float64(t[i][j]) - e) / e
		}
	}
	return stat
}

func TestSamplerMoments(t *testing.T) {
	const n = 100000
	tests := []struct {
		name       string
		draw       func(r *rng) float64
		mean, vari float64
	}{
		{"normal", func(r *rng) float64 { return r.normal() }, 0, 1},
		{"gamma(0.5)", func(r *rng) float64 { return r.gamma(0.5) }, 0.5, 0.5},
		{"gamma(1)", func(r *rng) float64 { return r.gamma(1) }, 1, 1},
		{"gamma(3.7)", func(r *rng) float64 { return r.gamma(3.7) }, 3.7, 3.7},
		{"gamma(500)", func(r *rng) float64 { return r.gamma(500) }, 500, 500},
		{"beta(1,1)", func(r *rng) float64 { return r.beta(1, 1) }, 0.5, 1.0 / 12},
		{"beta(3,17)", func(r *rng) float64 { return r.beta(3, 17) }, 0.15, 3 * 17 / (20.0 * 20 * 21)},
		{"t(5)", func(r *rng) float64 { return r.studentT(5) }, 0, 5.0 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRNG(7, 11)
			var s armStats
			for range n {
				s.add(tt.draw(&r))
			}
			vari := s.m2 / (s.n - 1)
			// The sample mean is within 5 standard errors; the variance within 5%.
			if d := math.Abs(s.mean - tt.mean); d > 5*math.Sqrt(tt.vari/n) {
				t.Errorf("mean = %.5f, want %.5f", s.mean, tt.mean)
			}
			if d := math.Abs(vari/tt.vari - 1); d > 0.05 {
				t.Errorf("variance = %.5f, want %.5f", vari, tt.vari)
			}
		})
	}
}

func TestUnitIsOpen(t *testing.T) {
	for _, x := range []uint64{0, 1, 1 << 11, math.MaxUint64} {
		if u := unit(x); !(u > 0 && u < 1) {
			t.Errorf("unit(%#x) = %v, want in (0, 1)", x, u)
		}
	}
}
