package rollout

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/monitor"
)

// evaluate judges the candidate on the counts in d, against base (stable's
// counts over the same window, or over an earlier one when stable gets no
// traffic now, as after a blue-green switch). The verdict is fail if any
// metric fails, pass if all pass, else inconclusive.
func evaluate(metrics []Metric, d *Mark, base VersionMark, alpha float64) ([]analysis.Result, analysis.Decision) {
	out := make([]analysis.Result, 0, len(metrics))
	verdict := analysis.Pass
	for _, m := range metrics {
		r := evaluateMetric(m, d, base, alpha)
		out = append(out, r)
		switch {
		case r.Decision == analysis.Fail:
			verdict = analysis.Fail
		case r.Decision == analysis.Inconclusive && verdict == analysis.Pass:
			verdict = analysis.Inconclusive
		}
	}
	return out, verdict
}

func evaluateMetric(m Metric, d *Mark, base VersionMark, alpha float64) analysis.Result {
	cand := d.Candidate
	c := analysis.Criterion{Direction: analysis.LowerIsBetter, Tolerance: m.Tolerance, Relative: m.Relative, MinSamples: m.minSamples(), Alpha: alpha}
	name := m.name()
	switch m.Type {
	case MetricErrorRate:
		return analysis.CompareProportions(name,
			analysis.Proportion{Events: cand.Errors, Trials: cand.Requests},
			analysis.Proportion{Events: base.Errors, Trials: base.Requests}, c)
	case MetricLatency:
		c.Quantile = m.quantile()
		return analysis.CompareDistributions(name, padded(cand.Latency), padded(base.Latency), monitor.LatencyBuckets, c)
	case MetricShadowAgreement:
		return analysis.CheckProportion(name, analysis.Proportion{Events: d.Shadow.Agreed, Trials: d.Shadow.ClassRows},
			m.Tolerance, analysis.HigherIsBetter, m.minSamples(), alpha)
	case MetricShadowDiff:
		c.Relative = false
		return analysis.CheckMeanPaired(name, momentsFromSums(d.Shadow.Values, d.Shadow.SumAbs, d.Shadow.SumSqAbs), c)
	case MetricAccuracy:
		c.Direction = analysis.HigherIsBetter
		return analysis.CompareProportions(name,
			analysis.Proportion{Events: cand.Correct, Trials: cand.ClassRows},
			analysis.Proportion{Events: base.Correct, Trials: base.ClassRows}, c)
	case MetricMSE:
		return analysis.CompareMeans(name, momentsFromSums(cand.MSEN, cand.MSESum, cand.MSESumSq),
			momentsFromSums(base.MSEN, base.MSESum, base.MSESumSq), c)
	case MetricReward:
		c.Direction = analysis.HigherIsBetter
		return analysis.CompareMeans(name, momentsFromSums(cand.Rewards, cand.RewardSum, cand.RewardSq),
			momentsFromSums(base.Rewards, base.RewardSum, base.RewardSq), c)
	case MetricChallengerLoss:
		c.Relative = false
		return analysis.CheckMeanPaired(name, d.Paired, c)
	case MetricInputDrift:
		return checkDrift(name, m, cand.Drift, base.Drift)
	}
	return analysis.Result{Metric: name, Decision: analysis.Inconclusive, Reason: fmt.Sprintf("unknown metric type %q", m.Type)}
}

// padded returns counts with one entry per latency bucket and the +Inf
// bucket, whatever an older mark held.
func padded(counts []int64) []int64 {
	if len(counts) == len(monitor.LatencyBuckets)+1 {
		return counts
	}
	out := make([]int64, len(monitor.LatencyBuckets)+1)
	copy(out, counts)
	return out
}

// checkDrift judges the candidate's input drift, the worst feature's PSI
// over its live window, against a fixed limit or against stable's own
// drift. PSI is a descriptive score, not a test: the window's row count
// stands in for the sample size.
func checkDrift(name string, m Metric, cand, base *DriftMark) analysis.Result {
	r := analysis.Result{Metric: name, Test: "psi-threshold", Statistic: "max feature PSI"}
	if cand == nil {
		r.Decision, r.Reason = analysis.Inconclusive, "the candidate version has no drift baseline (push it with --baseline)"
		return r
	}
	r.Candidate, r.CandidateN = cand.PSI, cand.Rows
	limit := m.Tolerance
	if m.Relative {
		if base == nil {
			r.Decision, r.Reason = analysis.Inconclusive, "the stable version has no drift baseline to compare with"
			return r
		}
		r.Baseline, r.BaselineN = base.PSI, base.Rows
		limit = base.PSI * (1 + m.Tolerance)
	}
	r.Difference = cand.PSI - limit
	switch {
	case cand.Rows < m.minSamples():
		r.Decision, r.Reason = analysis.Inconclusive, fmt.Sprintf("%d rows in the drift window, need %d", cand.Rows, m.minSamples())
	case cand.PSI > limit:
		r.Decision, r.Reason = analysis.Fail, fmt.Sprintf("PSI %.3f on %s is over %.3f", cand.PSI, cand.Feature, limit)
	default:
		r.Decision, r.Reason = analysis.Pass, fmt.Sprintf("worst PSI %.3f (%s) within %.3f", cand.PSI, cand.Feature, limit)
	}
	return r
}
