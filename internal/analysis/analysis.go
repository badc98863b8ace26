package analysis

import (
	"fmt"
	"math"
)

// Decision is the verdict of one comparison.
type Decision string

const (
	// Pass means there is evidence that the candidate is within tolerance.
	Pass Decision = "pass"
	// Fail means there is evidence that the candidate is worse than tolerated.
	Fail Decision = "fail"
	// Inconclusive means the evidence does not settle it yet: keep watching.
	Inconclusive Decision = "inconclusive"
)

// Direction says which way of a metric is worse.
type Direction int

const (
	// LowerIsBetter is for error rates, latencies, squared errors.
	LowerIsBetter Direction = iota
	// HigherIsBetter is for accuracy, agreement, rewards.
	HigherIsBetter
)

// String returns "lower is better" or "higher is better".
func (d Direction) String() string {
	if d == HigherIsBetter {
		return "higher is better"
	}
	return "lower is better"
}

// Defaults applied to a zero Criterion field.
const (
	DefaultAlpha      = 0.05
	DefaultMinSamples = 30
	DefaultHorizon    = 1000
	DefaultQuantile   = 0.99
	DefaultMargin     = 0.1
)

// Criterion says how much worse than the baseline a candidate may be, and
// how sure a verdict must be.
//
// The candidate may be worse than the baseline by at most Tolerance (an
// absolute difference) or, if Relative, by Tolerance × baseline. A comparison
// is never Pass or Fail before both sides have MinSamples. Alpha bounds the
// probability of a wrong Fail (and, separately, of a wrong Pass) however
// often the comparison is repeated on growing data.
type Criterion struct {
	// Direction says which way is worse.
	Direction Direction
	// Tolerance is the largest tolerated worsening, >= 0. With 0 an equal
	// candidate is never declared Pass (only a clearly better one is).
	Tolerance float64
	// Relative makes Tolerance a fraction of the baseline value
	// (0.1 = "at most 10% worse than the baseline").
	Relative bool
	// MinSamples is the smallest sample size on each side before any
	// verdict; DefaultMinSamples when 0.
	MinSamples int64
	// Alpha is the false-alarm rate, valid under continuous monitoring;
	// DefaultAlpha when 0. Must be in (0, 0.5].
	Alpha float64
	// Horizon is the effective sample size (per side) at which the
	// confidence sequence is tightest; DefaultHorizon when 0. Set it to the
	// number of candidate samples a typical analysis window collects. It
	// trades early width for late width; validity holds for any value.
	Horizon int64
	// Quantile is the quantile CompareDistributions reports and applies
	// Tolerance to (0.99 = p99); DefaultQuantile when 0.
	Quantile float64
	// Margin is, for CompareDistributions, the largest tolerated dominance
	// P(candidate worse) − P(candidate better) of a random candidate
	// observation over a random baseline one, for a Pass; DefaultMargin
	// when 0.
	Margin float64
}

// withDefaults returns c with zero fields defaulted, or an error naming the
// first invalid field.
func (c Criterion) withDefaults() (Criterion, error) {
	if c.Alpha == 0 {
		c.Alpha = DefaultAlpha
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.Horizon == 0 {
		c.Horizon = DefaultHorizon
	}
	if c.Quantile == 0 {
		c.Quantile = DefaultQuantile
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	switch {
	case c.Direction != LowerIsBetter && c.Direction != HigherIsBetter:
		return c, fmt.Errorf("criterion.direction: unknown value %d", int(c.Direction))
	case !(c.Alpha > 0 && c.Alpha <= 0.5):
		return c, fmt.Errorf("criterion.alpha: must be in (0, 0.5], got %v", c.Alpha)
	case !(c.Tolerance >= 0) || math.IsInf(c.Tolerance, 0):
		return c, fmt.Errorf("criterion.tolerance: must be a finite number >= 0, got %v", c.Tolerance)
	case c.MinSamples < 0:
		return c, fmt.Errorf("criterion.minSamples: must be >= 0, got %d", c.MinSamples)
	case c.Horizon < 0:
		return c, fmt.Errorf("criterion.horizon: must be >= 0, got %d", c.Horizon)
	case !(c.Quantile > 0 && c.Quantile < 1):
		return c, fmt.Errorf("criterion.quantile: must be in (0, 1), got %v", c.Quantile)
	case !(c.Margin > 0 && c.Margin < 1):
		return c, fmt.Errorf("criterion.margin: must be in (0, 1), got %v", c.Margin)
	}
	return c, nil
}

// sign is +1 when higher values are worse, −1 when lower values are worse.
func (c Criterion) sign() float64 {
	if c.Direction == HigherIsBetter {
		return -1
	}
	return 1
}

// Result is the outcome of one comparison, ready to store and show.
type Result struct {
	Metric     string  `json:"metric"`
	Test       string  `json:"test"`
	Paired     bool    `json:"paired"`
	Candidate  float64 `json:"candidate"`
	Baseline   float64 `json:"baseline"`
	CandidateN int64   `json:"candidate_n"`
	BaselineN  int64   `json:"baseline_n"`
	// Difference is candidate − baseline, except for CompareDistributions,
	// where it is the dominance (see Statistic).
	Difference float64 `json:"difference"`
	// Lower and Upper bound Difference: a confidence sequence at level
	// 1−Alpha, valid simultaneously at every look.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// PValue is the anytime-valid p-value for "no regression beyond
	// tolerance": Fail happens exactly when it is <= Alpha (and the sample
	// sizes are reached).
	PValue float64 `json:"p_value"`
	Alpha  float64 `json:"alpha"`
	// Statistic names what Difference, Lower and Upper measure.
	Statistic string   `json:"statistic,omitempty"`
	Decision  Decision `json:"decision"`
	Reason    string   `json:"reason"`
}

// invalid is the Result for input that cannot be analysed.
func invalid(metric, test string, alpha float64, reason string) Result {
	if !(alpha > 0 && alpha <= 1) {
		alpha = DefaultAlpha
	}
	return Result{Metric: metric, Test: test, PValue: 1, Alpha: alpha, Decision: Inconclusive, Reason: reason}
}

// finite replaces NaN and ±Inf by 0 so a Result always encodes as JSON.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// sanitize makes every float of r encodable and in range.
func (r Result) sanitize() Result {
	r.Candidate = finite(r.Candidate)
	r.Baseline = finite(r.Baseline)
	r.Difference = finite(r.Difference)
	r.Lower = finite(r.Lower)
	r.Upper = finite(r.Upper)
	if math.IsNaN(r.PValue) || r.PValue > 1 {
		r.PValue = 1
	}
	if r.PValue < 0 {
		r.PValue = 0
	}
	return r
}

// mixture is the normal-mixture boundary shared by every Gaussian test here:
// the mSPRT of Johari et al. and the asymptotic confidence sequence of
// Waudby-Smith et al. An estimate θ̂ with variance s2 after an effective
// sample size t is compared with θ through the mixture likelihood ratio
//
//	Λ(θ) = (1+r)^(−1/2) · exp( r (θ̂−θ)² / (2 s2 (1+r)) ),   r = t·ρ²,
//
// the N(0, ρ²)-mixture of the Gaussian likelihood ratio martingale in
// information time. Ville's inequality bounds the chance that Λ(θtrue) ever
// reaches 1/α by α, which gives the always-valid p-value 1/Λ and the
// confidence sequence {θ : Λ(θ) < 1/α}.
type mixture struct {
	rho2     float64 // ρ², per unit of effective sample size
	logAlpha float64 // log(1/α)
}

// newMixture tunes ρ so the confidence sequence is tightest at an effective
// sample size of horizon (Waudby-Smith et al., eq. for ρ(t*)).
func newMixture(alpha float64, horizon int64) mixture {
	c := -2 * math.Log(alpha)
	return mixture{rho2: (c + math.Log1p(c)) / float64(horizon), logAlpha: -math.Log(alpha)}
}

// halfWidth is the half-width of the confidence sequence.
func (m mixture) halfWidth(s2, t float64) float64 {
	r := t * m.rho2
	if !(r > 0) || !(s2 >= 0) {
		return math.Inf(1)
	}
	return math.Sqrt(s2 * (1 + r) / r * (math.Log1p(r) + 2*m.logAlpha))
}

// pValue is 1/Λ at a distance d = θ̂−θ, capped at 1.
func (m mixture) pValue(d, s2, t float64) float64 {
	r := t * m.rho2
	if !(r > 0) || !(s2 > 0) {
		if s2 == 0 && d != 0 && r > 0 {
			return 0
		}
		return 1
	}
	logL := -0.5*math.Log1p(r) + r*d*d/(2*s2*(1+r))
	if logL <= 0 {
		return 1
	}
	return math.Exp(-logL)
}

// oneSidedP is the anytime-valid p-value for H0: g <= 0 given an estimate
// ĝ: 1 when ĝ <= 0, else 1/Λ(0). The null is composite; Λ is smallest at
// its boundary g = 0, so this bounds every null value.
func (m mixture) oneSidedP(g, s2, t float64) float64 {
	if !(g > 0) {
		return 1
	}
	return m.pValue(g, s2, t)
}

// effectiveN is the clock of a two-sample comparison: n₁n₂/(n₁+n₂), the
// sample size of a one-sample problem with the same precision when both
// sides have the same variance (≈ the canary's n when it is the small side).
func effectiveN(a, b int64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	fa, fb := float64(a), float64(b)
	return fa * fb / (fa + fb)
}

// contrast decides a two-sample comparison of estimates c and b with
// variances vc, vb (of one observation) and sizes nc, nb.
type contrast struct {
	diff, lower, upper float64 // c − b and its confidence sequence
	g, gLower, gUpper  float64 // worsening beyond tolerance and its CS
	p                  float64 // anytime p-value for H0: g <= 0
	tol                float64 // tolerance in absolute units
}

// twoSample computes the confidence sequences of c − b and of the
// worsening beyond tolerance g = sign·(c − b) − tolerance (absolute), or
// g = sign·c − (sign + tol·sgn(b))·b (relative, a linear contrast, so the
// estimated baseline's own noise is counted).
func twoSample(m mixture, c Criterion, cm, bm, vc, vb float64, nc, nb int64) contrast {
	t := effectiveN(nc, nb)
	fc, fb := float64(nc), float64(nb)
	s := c.sign()
	var out contrast
	out.diff = cm - bm
	s2 := vc/fc + vb/fb
	h := m.halfWidth(s2, t)
	out.lower, out.upper = out.diff-h, out.diff+h
	coefB := s // g = s·c − coefB·b − absTol
	absTol := c.Tolerance
	if c.Relative {
		k := c.Tolerance
		if bm < 0 {
			k = -k
		}
		coefB = s + k
		absTol = 0
		out.tol = c.Tolerance * math.Abs(bm)
	} else {
		out.tol = c.Tolerance
	}
	out.g = s*cm - coefB*bm - absTol
	gs2 := vc/fc + coefB*coefB*vb/fb
	gh := m.halfWidth(gs2, t)
	out.gLower, out.gUpper = out.g-gh, out.g+gh
	out.p = m.oneSidedP(out.g, gs2, t)
	return out
}

// decide turns the confidence sequence of the worsening g into a verdict.
func decide(enough bool, gLower, gUpper float64) Decision {
	switch {
	case !enough:
		return Inconclusive
	case gLower > 0:
		return Fail
	case gUpper < 0:
		return Pass
	}
	return Inconclusive
}

// Overall combines the verdicts of several metrics of one analysis: Fail
// if any metric fails, Pass if every metric passes, Inconclusive
// otherwise; with the metric names that decided it. Each metric keeps its
// own Alpha, so with k metrics the chance of some false Fail is at most the
// sum of their Alphas (give each Alpha/k to bound the whole analysis by
// Alpha).
func Overall(results ...Result) (Decision, []string) {
	var failed, waiting []string
	for _, r := range results {
		switch r.Decision {
		case Fail:
			failed = append(failed, r.Metric)
		case Pass:
		default:
			waiting = append(waiting, r.Metric)
		}
	}
	switch {
	case len(results) == 0:
		return Inconclusive, nil
	case len(failed) > 0:
		return Fail, failed
	case len(waiting) > 0:
		return Inconclusive, waiting
	}
	return Pass, nil
}
