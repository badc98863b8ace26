package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The simulations below check the guarantee that matters for a rollout:
// under no difference (or a difference exactly at the tolerance), the
// chance that ANY of many repeated looks says Fail stays at or below Alpha.
// Each uses a fixed seed, so the figures are reproducible; the slack allows
// for Monte-Carlo error (three standard errors of a rate of Alpha over the
// number of simulated rollouts).

const (
	simRollouts = 2000
	simEvery    = 50   // candidate samples between looks
	simMax      = 5000 // candidate samples at the last look
	simAlpha    = 0.05
)

// slack is three Monte-Carlo standard errors of a rate alpha over n runs.
func slack(alpha float64, n int) float64 {
	return 3 * math.Sqrt(alpha*(1-alpha)/float64(n))
}

// bernoulliArm draws k Bernoulli(p) trials into a Proportion.
func bernoulliArm(rng *rand.Rand, p *Proportion, prob float64, k int) {
	for range k {
		if rng.Float64() < prob {
			p.Events++
		}
	}
	p.Trials += int64(k)
}

// everDecides runs one simulated rollout of two Bernoulli streams (ratio
// baseline samples per candidate sample) looking every simEvery candidate
// samples, and reports whether any look said Fail and whether any said Pass.
func proportionRollout(rng *rand.Rand, pc, pb float64, ratio int, c Criterion, looks func(cand, base Proportion) Decision) (fail, pass bool) {
	var cand, base Proportion
	for n := simEvery; n <= simMax; n += simEvery {
		bernoulliArm(rng, &cand, pc, simEvery)
		bernoulliArm(rng, &base, pb, simEvery*ratio)
		switch looks(cand, base) {
		case Fail:
			fail = true
		case Pass:
			pass = true
		}
		if fail && pass {
			return
		}
	}
	return
}

func TestProportionsFalseAlarmUnderRepeatedLooks(t *testing.T) {
	cases := []struct {
		name     string
		pc, pb   float64
		ratio    int
		c        Criterion
		rollouts int
		// checkPass: the truth is exactly at the tolerance, so Pass is a
		// false verdict too.
		checkPass bool
	}{
		{"error rate 1% both, equal split, strict", 0.01, 0.01, 1, Criterion{Direction: LowerIsBetter, MinSamples: 50}, simRollouts, true},
		{"error rate 10% both, 10% canary", 0.10, 0.10, 9, Criterion{Direction: LowerIsBetter, MinSamples: 50}, 1000, true},
		{"accuracy 90% both, equal split", 0.90, 0.90, 1, Criterion{Direction: HigherIsBetter, MinSamples: 50}, simRollouts, true},
		{"error rate 6% vs 5% at absolute tolerance 0.01", 0.06, 0.05, 1, Criterion{Direction: LowerIsBetter, Tolerance: 0.01, MinSamples: 50}, simRollouts, true},
		{"error rate 5.5% vs 5% at relative tolerance 10%", 0.055, 0.05, 1, Criterion{Direction: LowerIsBetter, Tolerance: 0.1, Relative: true, MinSamples: 50}, simRollouts, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			fails, passes := 0, 0
			for range tc.rollouts {
				f, p := proportionRollout(rng, tc.pc, tc.pb, tc.ratio, tc.c, func(cand, base Proportion) Decision {
					return CompareProportions("m", cand, base, tc.c).Decision
				})
				if f {
					fails++
				}
				if p {
					passes++
				}
			}
			limit := simAlpha + slack(simAlpha, tc.rollouts)
			failRate := float64(fails) / float64(tc.rollouts)
			passRate := float64(passes) / float64(tc.rollouts)
			t.Logf("%d rollouts, %d looks each: ever Fail %.4f, ever Pass %.4f (limit %.4f)", tc.rollouts, simMax/simEvery, failRate, passRate, limit)
			if failRate > limit {
				t.Errorf("false Fail rate %.4f > %.4f", failRate, limit)
			}
			if tc.checkPass && passRate > limit {
				t.Errorf("false Pass rate %.4f > %.4f", passRate, limit)
			}
		})
	}
}

// TestNaiveRepeatedZTestExceedsAlpha documents why the tests here are
// sequential: the same simulation judged by a fixed-sample one-sided
// two-proportion z-test at 5%, re-run at every look, raises a false alarm
// in far more than 5% of rollouts.
func TestNaiveRepeatedZTestExceedsAlpha(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	z := 1.6448536269514722 // one-sided 5%
	naive := func(cand, base Proportion) Decision {
		pc, pb := cand.Rate(), base.Rate()
		pool := float64(cand.Events+base.Events) / float64(cand.Trials+base.Trials)
		se := math.Sqrt(pool * (1 - pool) * (1/float64(cand.Trials) + 1/float64(base.Trials)))
		if se > 0 && (pc-pb)/se > z {
			return Fail
		}
		return Inconclusive
	}
	fails := 0
	for range simRollouts {
		if f, _ := proportionRollout(rng, 0.1, 0.1, 1, Criterion{}, naive); f {
			fails++
		}
	}
	rate := float64(fails) / simRollouts
	t.Logf("naive z-test, %d rollouts × %d looks: ever Fail %.4f (nominal %.2f)", simRollouts, simMax/simEvery, rate, simAlpha)
	if rate < 3*simAlpha {
		t.Errorf("naive repeated z-test false alarm rate %.4f; expected well above %.2f", rate, simAlpha)
	}
}

func TestMeansFalseAlarmUnderRepeatedLooks(t *testing.T) {
	// Squared errors of a N(0,1) residual: χ²(1), heavily skewed, as the
	// per-request squared error behind an RMSE comparison is.
	chi2 := func(rng *rand.Rand) float64 { z := rng.NormFloat64(); return z * z }
	normal := func(rng *rand.Rand) float64 { return 10 + 2*rng.NormFloat64() }
	cases := []struct {
		name   string
		draw   func(*rand.Rand) float64
		shiftC float64
		c      Criterion
	}{
		{"squared error, equal", chi2, 0, Criterion{Direction: LowerIsBetter, MinSamples: 50}},
		{"reward N(10,2), equal, higher is better", normal, 0, Criterion{Direction: HigherIsBetter, MinSamples: 50}},
		{"reward at absolute tolerance 0.5", normal, -0.5, Criterion{Direction: HigherIsBetter, Tolerance: 0.5, MinSamples: 50}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			fails, passes := 0, 0
			for range simRollouts {
				var cand, base Moments
				var f, p bool
				for n := simEvery; n <= simMax; n += simEvery {
					for range simEvery {
						cand.Add(tc.draw(rng) + tc.shiftC)
						base.Add(tc.draw(rng))
					}
					switch CompareMeans("m", cand, base, tc.c).Decision {
					case Fail:
						f = true
					case Pass:
						p = true
					}
				}
				if f {
					fails++
				}
				if p {
					passes++
				}
			}
			limit := simAlpha + slack(simAlpha, simRollouts)
			fr, pr := float64(fails)/simRollouts, float64(passes)/simRollouts
			t.Logf("ever Fail %.4f, ever Pass %.4f (limit %.4f)", fr, pr, limit)
			if fr > limit || pr > limit {
				t.Errorf("false verdict rate Fail %.4f / Pass %.4f > %.4f", fr, pr, limit)
			}
		})
	}
}

func TestPairedFalseAlarmUnderRepeatedLooks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := Criterion{Direction: LowerIsBetter, MinSamples: 50}
	fails, passes := 0, 0
	for range simRollouts {
		var d Moments
		var f, p bool
		for n := simEvery; n <= simMax; n += simEvery {
			for range simEvery {
				// Laplace differences: heavier tails than normal.
				u := rng.Float64() - 0.5
				d.Add(-math.Copysign(math.Log(1-2*math.Abs(u)), u))
			}
			switch CheckMeanPaired("m", d, c).Decision {
			case Fail:
				f = true
			case Pass:
				p = true
			}
		}
		if f {
			fails++
		}
		if p {
			passes++
		}
	}
	limit := simAlpha + slack(simAlpha, simRollouts)
	fr, pr := float64(fails)/simRollouts, float64(passes)/simRollouts
	t.Logf("ever Fail %.4f, ever Pass %.4f (limit %.4f)", fr, pr, limit)
	if fr > limit || pr > limit {
		t.Errorf("false verdict rate Fail %.4f / Pass %.4f > %.4f", fr, pr, limit)
	}
}

func TestCheckProportionFalseAlarmAtThreshold(t *testing.T) {
	cases := []struct {
		name      string
		p, thresh float64
		dir       Direction
	}{
		{"shadow agreement 95% at threshold 0.95", 0.95, 0.95, HigherIsBetter},
		{"error rate 20% at limit 0.2", 0.2, 0.2, LowerIsBetter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			fails, passes := 0, 0
			for range simRollouts {
				var p Proportion
				var f, ps bool
				for n := simEvery; n <= simMax; n += simEvery {
					bernoulliArm(rng, &p, tc.p, simEvery)
					switch CheckProportion("m", p, tc.thresh, tc.dir, 50, simAlpha).Decision {
					case Fail:
						f = true
					case Pass:
						ps = true
					}
				}
				if f {
					fails++
				}
				if ps {
					passes++
				}
			}
			limit := simAlpha + slack(simAlpha, simRollouts)
			fr, pr := float64(fails)/simRollouts, float64(passes)/simRollouts
			t.Logf("ever Fail %.4f, ever Pass %.4f (limit %.4f)", fr, pr, limit)
			if fr > limit || pr > limit {
				t.Errorf("false verdict rate Fail %.4f / Pass %.4f > %.4f", fr, pr, limit)
			}
		})
	}
}

// latencyBounds are Prometheus-style bucket bounds in milliseconds.
var latencyBounds = []float64{5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 300, 500}

// latencyArm adds k log-normal latencies (median med ms, log-sd 0.5) to a
// per-bucket histogram with len(latencyBounds)+1 buckets.
func latencyArm(rng *rand.Rand, h []int64, med float64, k int) {
	for range k {
		x := med * math.Exp(0.5*rng.NormFloat64())
		i := 0
		for i < len(latencyBounds) && x > latencyBounds[i] {
			i++
		}
		h[i]++
	}
}

func TestDistributionsFalseAlarmUnderRepeatedLooks(t *testing.T) {
	cases := []struct {
		name     string
		rollouts int
		// baseline samples per look: before and after the candidate's
		// 2,500th sample (a canary weight change mid-rollout).
		early, late int
	}{
		{"equal split", 1000, simEvery, simEvery},
		{"10% canary, then 50%", 300, 9 * simEvery, simEvery},
	}
	c := Criterion{Direction: LowerIsBetter, MinSamples: 50}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			fails, eqRejects, domMisses, passes := 0, 0, 0, 0
			for range tc.rollouts {
				cand := make([]int64, len(latencyBounds)+1)
				base := make([]int64, len(latencyBounds)+1)
				var nb int64
				var f, e, d, p bool
				for n := simEvery; n <= simMax; n += simEvery {
					k := tc.early
					if n > simMax/2 {
						k = tc.late
					}
					latencyArm(rng, cand, 40, simEvery)
					latencyArm(rng, base, 40, k)
					nb += int64(k)
					r := CompareDistributions("latency", cand, base, latencyBounds, c)
					switch r.Decision {
					case Fail:
						f = true
					case Pass:
						p = true
					}
					if math.Exp(-logEqualityE(cand, base, int64(n), nb)) <= simAlpha {
						e = true
					}
					// The true dominance is 0: the confidence sequence
					// must contain it at every look.
					if r.Lower > 0 || r.Upper < 0 {
						d = true
					}
				}
				if f {
					fails++
				}
				if e {
					eqRejects++
				}
				if d {
					domMisses++
				}
				if p {
					passes++
				}
			}
			n := float64(tc.rollouts)
			limit := simAlpha + slack(simAlpha, tc.rollouts)
			fr, er, dr := float64(fails)/n, float64(eqRejects)/n, float64(domMisses)/n
			t.Logf("%d rollouts: ever Fail %.4f, equality ever rejected %.4f, dominance interval ever missed 0 %.4f (limit %.4f); passed (correctly) %.4f",
				tc.rollouts, fr, er, dr, limit, float64(passes)/n)
			if fr > limit || er > limit || dr > limit {
				t.Errorf("false alarm: Fail %.4f, equality rejected %.4f, dominance missed %.4f > %.4f", fr, er, dr, limit)
			}
		})
	}
}
