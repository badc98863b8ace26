package analysis

import (
	"errors"
	"fmt"
	"math"
)

// Planning: how many samples a comparison needs.
//
// The functions here answer "how many candidate samples until the
// comparison decides?" before a rollout starts, from assumed true values.
// They use the very boundary the tests decide on (the mixture confidence
// sequence, with the same Alpha, Horizon and tolerance), so the figures are
// those of the running analysis, not of a textbook fixed-sample test. A
// verdict at n needs the estimate of the worsening g to land beyond the
// confidence sequence's half-width h(n); the estimate is Gaussian around
// the true g with standard deviation σ(n), so at a single look at n the
// verdict is reached with probability Power when
//
//	|g| − h(n) ≥ z(Power) · σ(n).
//
// Looking continuously only adds chances to decide earlier, so the figure
// is the size by which at least about Power of rollouts have decided
// (TestSampleSizeBySimulation checks it).

// DefaultPower is the chance of a verdict that planning aims for.
const DefaultPower = 0.8

// maxPlanSamples is the largest sample size planning searches.
const maxPlanSamples = 1 << 40

// ErrUndecidable is returned when no sample size decides: the assumed
// candidate sits exactly at the tolerance, or the numbers are degenerate.
var ErrUndecidable = errors.New("no sample size decides")

// SampleSize is how many samples a planned comparison needs.
type SampleSize struct {
	// Candidate and Baseline are the samples on each side (for a paired
	// test, both are the number of pairs).
	Candidate int64 `json:"candidate"`
	Baseline  int64 `json:"baseline"`
	// Decision is the verdict the assumed values lead to: Fail for a
	// candidate worse than tolerated, Pass otherwise.
	Decision Decision `json:"decision"`
	// Power is the chance of that verdict by Candidate samples.
	Power float64 `json:"power"`
	// Test names the test planned for.
	Test string `json:"test"`
}

// Plan is what a sample size is planned for.
type Plan struct {
	// Criterion is the comparison's criterion (tolerance, alpha, min
	// samples, horizon), as the rollout will run it.
	Criterion Criterion
	// Share is the candidate's share of the compared samples, in (0, 1):
	// 0.1 for a 10% canary against 90% on stable, 0.5 for equal arms.
	// Default 0.5.
	Share float64
	// Power is the wanted chance of a verdict; default DefaultPower.
	Power float64
}

func (p Plan) withDefaults() (Plan, Criterion, error) {
	if p.Share == 0 {
		p.Share = 0.5
	}
	if p.Power == 0 {
		p.Power = DefaultPower
	}
	c, err := p.Criterion.withDefaults()
	switch {
	case err != nil:
		return p, c, err
	case !(p.Share > 0 && p.Share < 1):
		return p, c, fmt.Errorf("plan.share: must be in (0, 1), got %v", p.Share)
	case !(p.Power >= 0.5 && p.Power < 1):
		return p, c, fmt.Errorf("plan.power: must be in [0.5, 1), got %v", p.Power)
	}
	return p, c, nil
}

// ProportionSampleSize plans CompareProportions for true rates cand and
// base (error rates, accuracies, binary rewards).
func ProportionSampleSize(cand, base float64, p Plan) (SampleSize, error) {
	if !(cand >= 0 && cand <= 1 && base >= 0 && base <= 1) {
		return SampleSize{}, fmt.Errorf("rates must be in [0, 1], got candidate %v, baseline %v", cand, base)
	}
	vars := func(nc, nb float64) (float64, float64) {
		// The same pseudo-counted variances the test plugs in.
		qc := (cand*nc + 1) / (nc + 2)
		qb := (base*nb + 1) / (nb + 2)
		return qc * (1 - qc), qb * (1 - qb)
	}
	return twoSampleSize(TestTwoProportions, cand, base, vars, p)
}

// MeanSampleSize plans CompareMeans for true means cand and base with
// standard deviations sdCand and sdBase of one observation (squared
// errors, rewards).
func MeanSampleSize(cand, base, sdCand, sdBase float64, p Plan) (SampleSize, error) {
	for _, x := range []float64{cand, base, sdCand, sdBase} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return SampleSize{}, fmt.Errorf("means and deviations must be finite")
		}
	}
	if sdCand < 0 || sdBase < 0 || sdCand+sdBase == 0 {
		return SampleSize{}, fmt.Errorf("standard deviations must be >= 0 and not both 0")
	}
	vars := func(float64, float64) (float64, float64) { return sdCand * sdCand, sdBase * sdBase }
	return twoSampleSize(TestTwoMeans, cand, base, vars, p)
}

// PairedSampleSize plans CheckMeanPaired for per-request differences
// (candidate − baseline) with true mean diff and standard deviation sd.
// Plan.Share is not used: both versions score every request.
func PairedSampleSize(diff, sd float64, p Plan) (SampleSize, error) {
	p.Share = 0.5
	p, c, err := p.withDefaults()
	if err != nil {
		return SampleSize{}, err
	}
	if c.Relative {
		return SampleSize{}, fmt.Errorf("criterion.relative: a paired test needs an absolute tolerance")
	}
	if !(sd > 0) || math.IsInf(sd, 0) || math.IsNaN(diff) || math.IsInf(diff, 0) {
		return SampleSize{}, fmt.Errorf("sd must be positive and diff finite")
	}
	m := newMixture(c.Alpha, c.Horizon)
	g := c.sign()*diff - c.Tolerance
	z := normalQuantile(p.Power)
	ok := func(n int64) bool {
		t := float64(n)
		s2 := sd * sd / t
		return math.Abs(g)-m.halfWidth(s2, t) >= z*math.Sqrt(s2)
	}
	n, err := smallest(c.MinSamples, g, ok)
	if err != nil {
		return SampleSize{}, err
	}
	return SampleSize{Candidate: n, Baseline: n, Decision: verdictOf(g), Power: p.Power, Test: TestPairedMeans}, nil
}

func verdictOf(g float64) Decision {
	if g > 0 {
		return Fail
	}
	return Pass
}

// twoSampleSize searches the smallest candidate sample size at which the
// two-sample contrast reaches its verdict with the plan's power.
func twoSampleSize(test string, cand, base float64, vars func(nc, nb float64) (float64, float64), p Plan) (SampleSize, error) {
	p, c, err := p.withDefaults()
	if err != nil {
		return SampleSize{}, err
	}
	m := newMixture(c.Alpha, c.Horizon)
	ratio := (1 - p.Share) / p.Share // baseline samples per candidate sample
	baseN := func(n int64) int64 { return max(1, int64(math.Round(float64(n)*ratio))) }
	z := normalQuantile(p.Power)
	var g float64
	ok := func(n int64) bool {
		nb := baseN(n)
		vc, vb := vars(float64(n), float64(nb))
		k := twoSample(m, c, cand, base, vc, vb, n, nb)
		coefB := c.sign()
		if c.Relative {
			kk := c.Tolerance
			if base < 0 {
				kk = -kk
			}
			coefB += kk
		}
		sd := math.Sqrt(vc/float64(n) + coefB*coefB*vb/float64(nb))
		g = k.g
		return math.Abs(k.g)-(k.gUpper-k.g) >= z*sd
	}
	ok(1) // sets g
	minN := c.MinSamples
	if mb := int64(math.Ceil(float64(c.MinSamples) / ratio)); mb > minN {
		minN = mb // the baseline must reach MinSamples too
	}
	n, err := smallest(minN, g, ok)
	if err != nil {
		return SampleSize{}, err
	}
	return SampleSize{Candidate: n, Baseline: max(baseN(n), c.MinSamples), Decision: verdictOf(g), Power: p.Power, Test: test}, nil
}

// smallest returns the least n >= from with ok(n), for an ok that turns
// true and stays true as n grows (the half-width and the deviation both
// shrink with n).
func smallest(from int64, g float64, ok func(int64) bool) (int64, error) {
	if g == 0 || math.IsNaN(g) {
		return 0, fmt.Errorf("%w: the assumed candidate is exactly at the tolerance", ErrUndecidable)
	}
	from = max(from, 2)
	if ok(from) {
		return from, nil
	}
	lo, hi := from, from*2
	for !ok(hi) {
		if hi > maxPlanSamples {
			return 0, fmt.Errorf("%w within %d samples: the assumed difference is too close to the tolerance", ErrUndecidable, int64(maxPlanSamples))
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // ok(hi), !ok(lo)
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// normalQuantile is the standard normal quantile function.
func normalQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}
