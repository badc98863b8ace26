package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// checkResult asserts the invariants every Result keeps: JSON-encodable,
// p-value in [0, 1], interval ordered, a reason.
func checkResult(t *testing.T, r Result) {
	t.Helper()
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("json.Marshal(%+v): %v", r, err)
	}
	if !(r.PValue >= 0 && r.PValue <= 1) {
		t.Errorf("p-value %v outside [0, 1]", r.PValue)
	}
	if r.Lower > r.Upper {
		t.Errorf("lower %v > upper %v", r.Lower, r.Upper)
	}
	if r.Reason == "" {
		t.Error("empty reason")
	}
	if r.Alpha <= 0 || r.Alpha > 1 {
		t.Errorf("alpha %v", r.Alpha)
	}
}

func TestEdgeCases(t *testing.T) {
	bounds := []float64{10, 20, 50}
	cases := []struct {
		name   string
		r      Result
		want   Decision
		reason string // substring of Reason
	}{
		{"proportions zero trials", CompareProportions("e", Proportion{}, Proportion{}, Criterion{}), Inconclusive, "no data"},
		{"proportions events > trials", CompareProportions("e", Proportion{5, 3}, Proportion{1, 10}, Criterion{}), Inconclusive, "candidate.events"},
		{"proportions negative trials", CompareProportions("e", Proportion{0, 3}, Proportion{0, -1}, Criterion{}), Inconclusive, "baseline.trials"},
		{"proportions bad alpha", CompareProportions("e", Proportion{1, 100}, Proportion{1, 100}, Criterion{Alpha: 2}), Inconclusive, "criterion.alpha"},
		{"proportions negative tolerance", CompareProportions("e", Proportion{1, 100}, Proportion{1, 100}, Criterion{Tolerance: -1}), Inconclusive, "criterion.tolerance"},
		{"proportions NaN tolerance", CompareProportions("e", Proportion{1, 100}, Proportion{1, 100}, Criterion{Tolerance: math.NaN()}), Inconclusive, "criterion.tolerance"},
		{"proportions unknown direction", CompareProportions("e", Proportion{1, 100}, Proportion{1, 100}, Criterion{Direction: 7}), Inconclusive, "criterion.direction"},
		{"tiny sample never fails", CompareProportions("e", Proportion{10, 10}, Proportion{0, 10}, Criterion{MinSamples: 30}), Inconclusive, "waiting for 30"},
		{"tiny sample never passes", CompareProportions("e", Proportion{0, 10}, Proportion{10, 10}, Criterion{MinSamples: 30}), Inconclusive, "waiting for 30"},
		{"all errors vs 1% fails", CompareProportions("e", Proportion{200, 200}, Proportion{2, 200}, Criterion{Tolerance: 0.01}), Fail, "more than the tolerated"},
		{"all errors on both sides", CompareProportions("e", Proportion{200, 200}, Proportion{200, 200}, Criterion{}), Inconclusive, "keep watching"},
		{"zero errors on both sides passes with tolerance", CompareProportions("e", Proportion{0, 5000}, Proportion{0, 5000}, Criterion{Tolerance: 0.01}), Pass, "within the tolerated"},
		{"check proportion zero trials", CheckProportion("a", Proportion{}, 0.95, HigherIsBetter, 0, 0), Inconclusive, "no data"},
		{"check proportion bad threshold", CheckProportion("a", Proportion{1, 2}, 1.5, HigherIsBetter, 0, 0), Inconclusive, "threshold"},
		{"check proportion agreement low fails", CheckProportion("a", Proportion{800, 1000}, 0.95, HigherIsBetter, 0, 0), Fail, "misses the requirement"},
		{"check proportion agreement high passes", CheckProportion("a", Proportion{995, 1000}, 0.95, HigherIsBetter, 0, 0), Pass, "meets"},
		{"means no data", CompareMeans("m", Moments{}, Moments{}, Criterion{}), Inconclusive, "not enough data"},
		{"means zero variance", CompareMeans("m", Moments{N: 100, Mean: 1}, Moments{N: 100, Mean: 2}, Criterion{}), Inconclusive, "neither side varies"},
		{"means NaN mean", CompareMeans("m", Moments{N: 100, Mean: math.NaN(), M2: 1}, Moments{N: 100, Mean: 2, M2: 1}, Criterion{}), Inconclusive, "candidate.mean"},
		{"means negative m2", CompareMeans("m", Moments{N: 100, Mean: 1, M2: 1}, Moments{N: 100, Mean: 2, M2: -1}, Criterion{}), Inconclusive, "baseline.m2"},
		{"paired relative rejected", CheckMeanPaired("m", Moments{N: 100, Mean: 1, M2: 10}, Criterion{Relative: true}), Inconclusive, "criterion.relative"},
		{"paired zero variance", CheckMeanPaired("m", Moments{N: 100, Mean: 0}, Criterion{}), Inconclusive, "cannot be measured"},
		{"paired one pair", CheckMeanPaired("m", Moments{N: 1, Mean: 3}, Criterion{}), Inconclusive, "not enough pairs"},
		{"distributions empty", CompareDistributions("l", []int64{0, 0, 0, 0}, []int64{0, 0, 0, 0}, bounds, Criterion{}), Inconclusive, "no data"},
		{"distributions mismatched lengths", CompareDistributions("l", []int64{1, 2, 3}, []int64{1, 2, 3, 4}, bounds, Criterion{}), Inconclusive, "both must use the same bounds"},
		{"distributions too many counts", CompareDistributions("l", []int64{1, 2, 3, 4, 5}, []int64{1, 2, 3, 4, 5}, bounds, Criterion{}), Inconclusive, "candidate: 5 counts"},
		{"distributions no bounds", CompareDistributions("l", []int64{1}, []int64{1}, nil, Criterion{}), Inconclusive, "bounds"},
		{"distributions unsorted bounds", CompareDistributions("l", []int64{1, 1, 1}, []int64{1, 1, 1}, []float64{5, 1}, Criterion{}), Inconclusive, "bounds[1]"},
		{"distributions negative count", CompareDistributions("l", []int64{1, -1, 1, 0}, []int64{1, 1, 1, 0}, bounds, Criterion{}), Inconclusive, "candidate[1]"},
		{"distributions all in one bucket", CompareDistributions("l", []int64{0, 500, 0, 0}, []int64{0, 500, 0, 0}, bounds, Criterion{}), Pass, "not worse"},
		{"distributions tiny sample", CompareDistributions("l", []int64{0, 0, 0, 10}, []int64{10, 0, 0, 0}, bounds, Criterion{}), Inconclusive, "waiting for 30"},
		{"distributions slower fails", CompareDistributions("l", []int64{0, 0, 100, 400}, []int64{300, 200, 0, 0}, bounds, Criterion{}), Fail, "worse"},
		{"distributions faster passes", CompareDistributions("l", []int64{300, 200, 0, 0}, []int64{0, 0, 100, 400}, bounds, Criterion{}), Pass, "not worse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, tc.r)
			if tc.r.Decision != tc.want {
				t.Errorf("decision %s, want %s; reason: %s", tc.r.Decision, tc.want, tc.r.Reason)
			}
			if !strings.Contains(tc.r.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", tc.r.Reason, tc.reason)
			}
		})
	}
}

func TestResultFields(t *testing.T) {
	r := CompareProportions("error_rate", Proportion{50, 1000}, Proportion{10, 1000}, Criterion{Tolerance: 0.01})
	checkResult(t, r)
	if r.Metric != "error_rate" || r.Test != TestTwoProportions || r.Paired {
		t.Errorf("metric/test/paired = %q/%q/%v", r.Metric, r.Test, r.Paired)
	}
	if r.Candidate != 0.05 || r.Baseline != 0.01 || r.CandidateN != 1000 || r.BaselineN != 1000 {
		t.Errorf("values %+v", r)
	}
	if math.Abs(r.Difference-0.04) > 1e-12 || !(r.Lower < 0.04 && 0.04 < r.Upper) {
		t.Errorf("difference %v in [%v, %v]", r.Difference, r.Lower, r.Upper)
	}
	if r.Decision != Fail || r.PValue > r.Alpha || r.Alpha != DefaultAlpha {
		t.Errorf("decision %s p %v alpha %v", r.Decision, r.PValue, r.Alpha)
	}
	p := CheckMeanPaired("loss", Moments{N: 500, Mean: 0.3, M2: 500}, Criterion{})
	checkResult(t, p)
	if !p.Paired || p.Test != TestPairedMeans || p.Decision != Fail {
		t.Errorf("paired result %+v", p)
	}
}

// TestPValueMatchesDecision checks that Fail happens exactly when the
// p-value is at most Alpha, once the sample sizes are reached.
func TestPValueMatchesDecision(t *testing.T) {
	for ev := int64(0); ev <= 120; ev += 5 {
		r := CompareProportions("e", Proportion{ev, 1000}, Proportion{50, 1000}, Criterion{Tolerance: 0.01})
		if (r.Decision == Fail) != (r.PValue <= r.Alpha) {
			t.Errorf("events %d: decision %s with p %v", ev, r.Decision, r.PValue)
		}
	}
}

// TestDirectionAndTolerance checks the orientation of the verdicts.
func TestDirectionAndTolerance(t *testing.T) {
	worse := Proportion{800, 10000}  // accuracy 8% / error 8%
	better := Proportion{200, 10000} // 2%
	cases := []struct {
		name       string
		cand, base Proportion
		c          Criterion
		want       Decision
	}{
		{"error up fails", worse, better, Criterion{Direction: LowerIsBetter}, Fail},
		{"error down passes", better, worse, Criterion{Direction: LowerIsBetter}, Pass},
		{"accuracy down fails", better, worse, Criterion{Direction: HigherIsBetter}, Fail},
		{"accuracy up passes", worse, better, Criterion{Direction: HigherIsBetter}, Pass},
		{"error up within absolute tolerance passes", worse, better, Criterion{Direction: LowerIsBetter, Tolerance: 0.15}, Pass},
		{"error up within relative tolerance passes", worse, better, Criterion{Direction: LowerIsBetter, Tolerance: 10, Relative: true}, Pass},
		{"error up beyond relative tolerance fails", worse, better, Criterion{Direction: LowerIsBetter, Tolerance: 0.5, Relative: true}, Fail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := CompareProportions("m", tc.cand, tc.base, tc.c)
			checkResult(t, r)
			if r.Decision != tc.want {
				t.Errorf("decision %s, want %s: %s", r.Decision, tc.want, r.Reason)
			}
		})
	}
}

func TestMoments(t *testing.T) {
	xs := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	var all, a, b Moments
	for i, x := range xs {
		all.Add(x)
		if i < 4 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	all.Add(math.NaN())
	all.Add(math.Inf(1))
	var mean, ss float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	merged := a
	merged.Merge(b)
	var empty Moments
	empty.Merge(all)
	for _, m := range []Moments{all, merged, empty} {
		if m.N != int64(len(xs)) || math.Abs(m.Mean-mean) > 1e-12 || math.Abs(m.Variance()-ss/float64(len(xs)-1)) > 1e-12 {
			t.Errorf("moments %+v, want n %d mean %v variance %v", m, len(xs), mean, ss/float64(len(xs)-1))
		}
	}
	if v := (Moments{N: 1, Mean: 2}).Variance(); v != 0 {
		t.Errorf("variance of one value = %v", v)
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	cases := []struct {
		name   string
		bounds []float64
		counts []int64
		q      float64
		want   float64
	}{
		{"median interpolated", bounds, []int64{0, 10, 10, 0}, 0.5, 2},
		{"quarter", bounds, []int64{0, 10, 10, 0}, 0.25, 1.5},
		{"p99 in last finite", bounds, []int64{0, 10, 10, 0}, 0.99, 2 + 2*9.8/10},
		{"first bucket from 0", bounds, []int64{10, 0, 0, 0}, 0.5, 0.5},
		{"in +Inf bucket", bounds, []int64{0, 0, 0, 10}, 0.5, 4},
		{"no overflow bucket", []float64{1, 2, math.Inf(1)}, []int64{0, 4, 4}, 0.9, 2},
		{"q 0", bounds, []int64{0, 10, 10, 0}, 0, 1},
		{"negative first bound", []float64{-1, 2}, []int64{4, 4, 0}, 0.25, -1},
		{"empty", bounds, []int64{0, 0, 0, 0}, 0.5, math.NaN()},
		{"mismatched", bounds, []int64{1, 1}, 0.5, math.NaN()},
		{"bad q", bounds, []int64{1, 1, 1, 1}, 1.5, math.NaN()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Quantile(tc.bounds, tc.counts, tc.q)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-12) {
				t.Errorf("Quantile = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFromCumulative(t *testing.T) {
	got, err := FromCumulative([]int64{2, 5, 5, 9})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{2, 3, 0, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("FromCumulative = %v, want %v", got, want)
		}
	}
	if _, err := FromCumulative([]int64{3, 2}); err == nil {
		t.Error("decreasing cumulative counts accepted")
	}
}

// TestDistributionsDirection checks that, for a higher-is-better metric,
// a lower candidate is the one that fails.
func TestDistributionsDirection(t *testing.T) {
	bounds := []float64{10, 20, 50}
	low := []int64{300, 200, 0, 0}
	high := []int64{0, 0, 100, 400}
	c := Criterion{Direction: HigherIsBetter}
	if r := CompareDistributions("throughput", low, high, bounds, c); r.Decision != Fail || r.Difference >= 0 {
		t.Errorf("lower throughput: %s, dominance %v: %s", r.Decision, r.Difference, r.Reason)
	}
	if r := CompareDistributions("throughput", high, low, bounds, c); r.Decision != Pass || r.Difference <= 0 {
		t.Errorf("higher throughput: %s, dominance %v: %s", r.Decision, r.Difference, r.Reason)
	}
}

func FuzzCompareDistributions(f *testing.F) {
	f.Add(int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), 10.0, 20.0, 0.1, 0.9)
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), 10.0, 10.0, 0.0, 0.5)
	f.Add(int64(-1), int64(1<<40), int64(3), int64(0), int64(5), int64(6), -10.0, 1e300, 1.0, 2.0)
	f.Fuzz(func(t *testing.T, c0, c1, c2, b0, b1, b2 int64, lo, hi, tol, q float64) {
		r := CompareDistributions("fuzz", []int64{c0, c1, c2}, []int64{b0, b1, b2}, []float64{lo, hi}, Criterion{Tolerance: tol, Quantile: q, Relative: true})
		checkResult(t, r)
		r = CompareProportions("fuzz", Proportion{c0, c1}, Proportion{b0, b1}, Criterion{Tolerance: tol})
		checkResult(t, r)
		r = CompareMeans("fuzz", Moments{N: c0, Mean: lo, M2: hi}, Moments{N: b0, Mean: tol, M2: q}, Criterion{})
		checkResult(t, r)
	})
}

func TestOverall(t *testing.T) {
	p := Result{Metric: "a", Decision: Pass}
	f := Result{Metric: "b", Decision: Fail}
	i := Result{Metric: "c", Decision: Inconclusive}
	cases := []struct {
		name  string
		in    []Result
		want  Decision
		names []string
	}{
		{"none", nil, Inconclusive, nil},
		{"all pass", []Result{p, p}, Pass, nil},
		{"one fails", []Result{p, i, f}, Fail, []string{"b"}},
		{"one waiting", []Result{p, i}, Inconclusive, []string{"c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, names := Overall(tc.in...)
			if got != tc.want || strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("Overall = %s %v, want %s %v", got, names, tc.want, tc.names)
			}
		})
	}
}
