package analysis

import (
	"fmt"
	"math"
)

// Moments summarises a stream of numbers with Welford's algorithm: N values,
// their Mean, and M2, the sum of squared deviations from the mean. The zero
// value is an empty summary. Moments is small and copyable; Merge combines
// summaries kept by different replicas or windows.
type Moments struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	M2   float64 `json:"m2"`
}

// Add adds one observation. NaN and ±Inf are ignored so that one bad value
// cannot poison the summary.
func (m *Moments) Add(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	m.N++
	d := x - m.Mean
	m.Mean += d / float64(m.N)
	m.M2 += d * (x - m.Mean)
}

// Merge adds every observation summarised by o (Chan et al.'s parallel
// update).
func (m *Moments) Merge(o Moments) {
	if o.N <= 0 {
		return
	}
	if m.N <= 0 {
		*m = o
		return
	}
	n := m.N + o.N
	d := o.Mean - m.Mean
	fm, fo, fn := float64(m.N), float64(o.N), float64(n)
	m.Mean += d * fo / fn
	m.M2 += o.M2 + d*d*fm*fo/fn
	m.N = n
}

// Variance is the sample variance M2/(N−1), 0 with fewer than 2 values.
func (m Moments) Variance() float64 {
	if m.N < 2 || !(m.M2 > 0) {
		return 0
	}
	return m.M2 / float64(m.N-1)
}

func (m Moments) validate(field string) error {
	switch {
	case m.N < 0:
		return fmt.Errorf("%s.n: must be >= 0, got %d", field, m.N)
	case math.IsNaN(m.Mean) || math.IsInf(m.Mean, 0):
		return fmt.Errorf("%s.mean: must be finite, got %v", field, m.Mean)
	case math.IsNaN(m.M2) || math.IsInf(m.M2, 0) || m.M2 < 0:
		return fmt.Errorf("%s.m2: must be finite and >= 0, got %v", field, m.M2)
	}
	return nil
}

// CompareMeans compares the mean of a candidate with the baseline's: mean
// squared error (LowerIsBetter; report RMSE as its square root), a custom
// KPI reward (HigherIsBetter).
//
// The test is the normal-mixture mSPRT / asymptotic confidence sequence on
// the difference of means with plug-in variances (Welch-style): valid
// asymptotically for any distribution with a finite variance.
func CompareMeans(metric string, cand, base Moments, c Criterion) Result {
	c, err := c.withDefaults()
	if err != nil {
		return invalid(metric, TestTwoMeans, c.Alpha, err.Error())
	}
	if err := cand.validate("candidate"); err != nil {
		return invalid(metric, TestTwoMeans, c.Alpha, err.Error())
	}
	if err := base.validate("baseline"); err != nil {
		return invalid(metric, TestTwoMeans, c.Alpha, err.Error())
	}
	r := Result{
		Metric: metric, Test: TestTwoMeans, Alpha: c.Alpha,
		Candidate: cand.Mean, Baseline: base.Mean,
		CandidateN: cand.N, BaselineN: base.N,
		Difference: cand.Mean - base.Mean, PValue: 1,
		Statistic: "candidate mean − baseline mean",
	}
	vc, vb := cand.Variance(), base.Variance()
	switch {
	case cand.N < 2 || base.N < 2:
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("not enough data yet: candidate has %d values, baseline %d (need at least 2 each to measure spread)", cand.N, base.N)
		return r.sanitize()
	case vc == 0 && vb == 0:
		r.Lower, r.Upper = r.Difference, r.Difference
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("candidate mean %.4g (n=%d) vs baseline %.4g (n=%d): neither side varies, so the uncertainty cannot be measured; check the metric is recorded correctly",
			cand.Mean, cand.N, base.Mean, base.N)
		return r.sanitize()
	}
	m := newMixture(c.Alpha, c.Horizon)
	k := twoSample(m, c, cand.Mean, base.Mean, vc, vb, cand.N, base.N)
	r.Lower, r.Upper = k.lower, k.upper
	r.PValue = k.p
	enough := cand.N >= c.MinSamples && base.N >= c.MinSamples
	r.Decision = decide(enough, k.gLower, k.gUpper)
	r.Reason = twoSampleReason(r, c, k, "mean", enough)
	return r.sanitize()
}

// CheckMeanPaired tests per-request differences (candidate − baseline, both
// scored on the same request, as in shadow and champion-challenger
// comparisons). Pairing removes the request-to-request variation both
// versions share, so far fewer samples are needed than with CompareMeans.
//
// Tolerance is absolute (Relative is rejected: a difference alone has no
// baseline level). Difference, Lower and Upper are the mean difference and
// its confidence sequence; Candidate is the mean difference and Baseline 0;
// CandidateN and BaselineN are both the number of pairs.
func CheckMeanPaired(metric string, diffs Moments, c Criterion) Result {
	c, err := c.withDefaults()
	if err != nil {
		return invalid(metric, TestPairedMeans, c.Alpha, err.Error())
	}
	if c.Relative {
		return invalid(metric, TestPairedMeans, c.Alpha, "criterion.relative: a paired test on differences needs an absolute tolerance")
	}
	if err := diffs.validate("diffs"); err != nil {
		return invalid(metric, TestPairedMeans, c.Alpha, err.Error())
	}
	r := Result{
		Metric: metric, Test: TestPairedMeans, Paired: true, Alpha: c.Alpha,
		Candidate: diffs.Mean, CandidateN: diffs.N, BaselineN: diffs.N,
		Difference: diffs.Mean, PValue: 1,
		Statistic: "mean of per-request differences (candidate − baseline)",
	}
	v := diffs.Variance()
	switch {
	case diffs.N < 2:
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("not enough pairs yet: %d (need at least 2 to measure spread)", diffs.N)
		return r.sanitize()
	case v == 0:
		r.Lower, r.Upper = r.Difference, r.Difference
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("all %d paired differences equal %.4g, so the uncertainty cannot be measured; check the metric is recorded correctly", diffs.N, diffs.Mean)
		return r.sanitize()
	}
	m := newMixture(c.Alpha, c.Horizon)
	t := float64(diffs.N)
	s2 := v / t
	h := m.halfWidth(s2, t)
	r.Lower, r.Upper = r.Difference-h, r.Difference+h
	g := c.sign()*r.Difference - c.Tolerance
	r.PValue = m.oneSidedP(g, s2, t)
	enough := diffs.N >= c.MinSamples
	r.Decision = decide(enough, g-h, g+h)
	var b sentence
	b.b = make([]byte, 0, 256)
	b.str("paired on ").int(diffs.N).str(" requests: mean difference ").num(r.Difference, 4).str(", ").
		level(c.Alpha).str(" confidence sequence ").interval(r.Lower, r.Upper, 4)
	verdictTail(&b, c, r.Decision, r.PValue, enough, "pairs")
	r.Reason = b.String()
	return r.sanitize()
}
