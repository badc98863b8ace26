package analysis

import (
	"fmt"
	"math"
)

// Test names reported in Result.Test.
const (
	TestTwoProportions = "two-proportion mSPRT (anytime-valid normal mixture)"
	TestOneProportion  = "one-proportion mSPRT against a threshold (anytime-valid normal mixture)"
	TestTwoMeans       = "two-sample mean mSPRT (asymptotic confidence sequence)"
	TestPairedMeans    = "paired mean-difference mSPRT (asymptotic confidence sequence)"
	TestDistributions  = "Dirichlet-multinomial sequential test of equal distributions + rank dominance confidence sequence"
)

// Proportion counts events among trials: errors/requests,
// correct/labelled, agreements/compared.
type Proportion struct {
	Events int64 `json:"events"`
	Trials int64 `json:"trials"`
}

// Rate is Events/Trials, 0 when there are no trials.
func (p Proportion) Rate() float64 {
	if p.Trials <= 0 {
		return 0
	}
	return float64(p.Events) / float64(p.Trials)
}

func (p Proportion) validate(field string) error {
	switch {
	case p.Trials < 0:
		return fmt.Errorf("%s.trials: must be >= 0, got %d", field, p.Trials)
	case p.Events < 0:
		return fmt.Errorf("%s.events: must be >= 0, got %d", field, p.Events)
	case p.Events > p.Trials:
		return fmt.Errorf("%s.events: %d is more than trials %d", field, p.Events, p.Trials)
	}
	return nil
}

// bernoulliVar is the variance of one trial, estimated with one pseudo
// success and one pseudo failure, (x+1)/(n+2): never zero, so that
// "0 errors in 40 requests" is not taken for certainty.
func bernoulliVar(p Proportion) float64 {
	q := (float64(p.Events) + 1) / (float64(p.Trials) + 2)
	return q * (1 - q)
}

// CompareProportions compares the rate of a candidate with the baseline's:
// an error rate (LowerIsBetter) or an accuracy (HigherIsBetter).
//
// The test is the two-stream mSPRT of Johari et al. on the difference of
// rates, with the normal-mixture confidence sequence of Waudby-Smith et al.
// and plug-in Bernoulli variances; it is anytime-valid asymptotically, which
// simulation checks down to 1% rates from 50 samples per side.
func CompareProportions(metric string, cand, base Proportion, c Criterion) Result {
	c, err := c.withDefaults()
	if err != nil {
		return invalid(metric, TestTwoProportions, c.Alpha, err.Error())
	}
	if err := cand.validate("candidate"); err != nil {
		return invalid(metric, TestTwoProportions, c.Alpha, err.Error())
	}
	if err := base.validate("baseline"); err != nil {
		return invalid(metric, TestTwoProportions, c.Alpha, err.Error())
	}
	r := Result{
		Metric: metric, Test: TestTwoProportions, Alpha: c.Alpha,
		Candidate: cand.Rate(), Baseline: base.Rate(),
		CandidateN: cand.Trials, BaselineN: base.Trials,
		Statistic: "candidate rate − baseline rate",
	}
	r.Difference = r.Candidate - r.Baseline
	if cand.Trials == 0 || base.Trials == 0 {
		r.PValue = 1
		r.Lower, r.Upper = -1, 1
		r.Decision = Inconclusive
		r.Reason = fmt.Sprintf("no data yet: candidate has %d trials, baseline %d", cand.Trials, base.Trials)
		return r.sanitize()
	}
	m := newMixture(c.Alpha, c.Horizon)
	k := twoSample(m, c, r.Candidate, r.Baseline, bernoulliVar(cand), bernoulliVar(base), cand.Trials, base.Trials)
	r.Lower, r.Upper = math.Max(k.lower, -1), math.Min(k.upper, 1)
	r.PValue = k.p
	enough := cand.Trials >= c.MinSamples && base.Trials >= c.MinSamples
	r.Decision = decide(enough, k.gLower, k.gUpper)
	r.Reason = twoSampleReason(r, c, k, "rate", enough)
	return r.sanitize()
}

// CheckProportion checks one rate against an absolute threshold: shadow
// agreement >= 0.95 (HigherIsBetter), error rate <= 0.2 (LowerIsBetter).
// Fail means evidence that the rate is on the wrong side of the threshold,
// Pass evidence that it is on the right side. Candidate is the rate,
// Baseline the threshold, Difference their difference; minSamples and alpha
// default like Criterion's when 0.
func CheckProportion(metric string, p Proportion, threshold float64, dir Direction, minSamples int64, alpha float64) Result {
	c, err := Criterion{Direction: dir, MinSamples: minSamples, Alpha: alpha}.withDefaults()
	if err != nil {
		return invalid(metric, TestOneProportion, c.Alpha, err.Error())
	}
	if err := p.validate("proportion"); err != nil {
		return invalid(metric, TestOneProportion, c.Alpha, err.Error())
	}
	if !(threshold >= 0 && threshold <= 1) {
		return invalid(metric, TestOneProportion, c.Alpha, fmt.Sprintf("threshold: must be in [0, 1], got %v", threshold))
	}
	r := Result{
		Metric: metric, Test: TestOneProportion, Alpha: c.Alpha,
		Candidate: p.Rate(), Baseline: threshold, CandidateN: p.Trials,
		Statistic: "rate − threshold",
	}
	r.Difference = r.Candidate - threshold
	if p.Trials == 0 {
		r.PValue = 1
		r.Lower, r.Upper = -threshold, 1-threshold
		r.Decision = Inconclusive
		r.Reason = "no data yet: 0 trials"
		return r.sanitize()
	}
	m := newMixture(c.Alpha, c.Horizon)
	t := float64(p.Trials)
	s2 := bernoulliVar(p) / t
	h := m.halfWidth(s2, t)
	r.Lower = math.Max(r.Difference-h, -threshold)
	r.Upper = math.Min(r.Difference+h, 1-threshold)
	g := c.sign() * r.Difference
	r.PValue = m.oneSidedP(g, s2, t)
	enough := p.Trials >= c.MinSamples
	r.Decision = decide(enough, g-h, g+h)
	word := "at most "
	if dir == HigherIsBetter {
		word = "at least "
	}
	var b sentence
	b.b = make([]byte, 0, 256)
	b.str("rate ").num(r.Candidate, 4).str(" over ").int(p.Trials).str(" trials, ").level(c.Alpha).
		str(" confidence sequence ").interval(threshold+r.Lower, threshold+r.Upper, 4)
	switch {
	case !enough:
		b.str("; waiting for ").int(c.MinSamples).str(" trials before deciding")
	case r.Decision == Fail:
		b.str(" misses the requirement of ").str(word).num(threshold, 4).str(" (p = ").num(r.PValue, 3).str(")")
	case r.Decision == Pass:
		b.str(" meets the requirement of ").str(word).num(threshold, 4)
	default:
		b.str(" still contains the threshold ").num(threshold, 4).str("; keep watching")
	}
	r.Reason = b.String()
	return r.sanitize()
}

// twoSampleReason writes the one-sentence explanation of a two-sample
// comparison.
func twoSampleReason(r Result, c Criterion, k contrast, what string, enough bool) string {
	var b sentence
	b.b = make([]byte, 0, 320)
	b.str("candidate ").str(what).str(" ").num(r.Candidate, 4).str(" (n=").int(r.CandidateN).
		str(") vs baseline ").num(r.Baseline, 4).str(" (n=").int(r.BaselineN).
		str("), difference ").num(r.Difference, 4).str(", ").level(c.Alpha).
		str(" confidence sequence ").interval(r.Lower, r.Upper, 4)
	verdictTail(&b, c, r.Decision, r.PValue, enough, "samples on each side")
	return b.String()
}

// verdictTail ends a comparison's Reason with what the verdict means.
func verdictTail(b *sentence, c Criterion, d Decision, p float64, enough bool, units string) {
	worse := "higher"
	if c.Direction == HigherIsBetter {
		worse = "lower"
	}
	switch {
	case !enough:
		b.str("; waiting for ").int(c.MinSamples).str(" ").str(units).str(" before deciding")
	case d == Fail:
		b.str(": the candidate is ").str(worse).str(" by more than the tolerated ").tol(c).str(" (p = ").num(p, 3).str(")")
	case d == Pass:
		b.str(": the candidate is within the tolerated ").tol(c)
	default:
		b.str(": not yet sure whether the candidate is within the tolerated ").tol(c).str("; keep watching")
	}
}
