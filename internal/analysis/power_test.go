package analysis

import (
	"math/rand/v2"
	"testing"
)

// The power tests check that real regressions are caught, and good
// candidates promoted, within a stated number of samples, in at least
// powerRuns×powerShare of seeded simulated rollouts. Looks are every 50
// candidate samples, as in the false-alarm simulations.

const (
	powerRuns  = 200
	powerShare = 0.95
)

// firstLook runs powerRuns rollouts, each until the look that returns want
// (or limit candidate samples), and checks that at least powerShare of them
// reached want and none reached the opposite verdict first. step adds
// simEvery candidate samples and looks; step(nil) starts a new rollout.
func firstLook(t *testing.T, limit int, want Decision, step func(rng *rand.Rand) Decision) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	hit, wrong := 0, 0
	for range powerRuns {
		for n := simEvery; n <= limit; n += simEvery {
			d := step(rng)
			if d == want {
				hit++
				break
			}
			if d != Inconclusive {
				wrong++
				break
			}
		}
		step(nil) // reset the rollout's streams
	}
	share := float64(hit) / powerRuns
	t.Logf("%s within %d candidate samples in %.1f%% of %d rollouts (%d opposite verdicts)", want, limit, 100*share, powerRuns, wrong)
	if share < powerShare {
		t.Errorf("%s within %d samples in %.3f of rollouts, want >= %.2f", want, limit, share, powerShare)
	}
	if wrong > 0 {
		t.Errorf("%d rollouts reached the opposite verdict first", wrong)
	}
}

// proportionSteps returns a step function over fresh Bernoulli streams;
// step(nil) resets them.
func proportionSteps(pc, pb float64, c Criterion) func(*rand.Rand) Decision {
	var cand, base Proportion
	return func(rng *rand.Rand) Decision {
		if rng == nil {
			cand, base = Proportion{}, Proportion{}
			return Inconclusive
		}
		bernoulliArm(rng, &cand, pc, simEvery)
		bernoulliArm(rng, &base, pb, simEvery)
		return CompareProportions("error_rate", cand, base, c).Decision
	}
}

func TestProportionsPower(t *testing.T) {
	errRate := Criterion{Direction: LowerIsBetter, Tolerance: 0.01, MinSamples: 100}
	t.Run("error rate 1% to 5% fails", func(t *testing.T) {
		firstLook(t, 1500, Fail, proportionSteps(0.05, 0.01, errRate))
	})
	t.Run("error rate 1% to 1% passes", func(t *testing.T) {
		firstLook(t, 5000, Pass, proportionSteps(0.01, 0.01, errRate))
	})
	t.Run("error rate 5% to 1% passes", func(t *testing.T) {
		firstLook(t, 1000, Pass, proportionSteps(0.01, 0.05, errRate))
	})
	acc := Criterion{Direction: HigherIsBetter, Tolerance: 0.02, MinSamples: 100}
	t.Run("accuracy 90% to 80% fails", func(t *testing.T) {
		firstLook(t, 1500, Fail, proportionSteps(0.80, 0.90, acc))
	})
}

func TestMeansPower(t *testing.T) {
	c := Criterion{Direction: LowerIsBetter, Tolerance: 0.1, Relative: true, MinSamples: 100}
	steps := func(scaleC float64) func(*rand.Rand) Decision {
		var cand, base Moments
		return func(rng *rand.Rand) Decision {
			if rng == nil {
				cand, base = Moments{}, Moments{}
				return Inconclusive
			}
			for range simEvery {
				z := rng.NormFloat64()
				cand.Add(scaleC * z * z)
				z = rng.NormFloat64()
				base.Add(z * z)
			}
			return CompareMeans("mse", cand, base, c).Decision
		}
	}
	t.Run("mean squared error ×1.5 fails", func(t *testing.T) { firstLook(t, 2000, Fail, steps(1.5)) })
	t.Run("equal mean squared error passes", func(t *testing.T) { firstLook(t, 10000, Pass, steps(1)) })
}

// TestPairedNeedsFewerSamples shows the point of pairing: both versions
// score the same requests, whose shared difficulty (sd 3) dwarfs the
// versions' own noise (sd 0.3). A 0.2 worsening is found by the paired test
// within 200 requests; the unpaired comparison of the same numbers has not
// found it by then.
func TestPairedNeedsFewerSamples(t *testing.T) {
	c := Criterion{Direction: LowerIsBetter, MinSamples: 50}
	var d, cand, base Moments
	paired := func(rng *rand.Rand) Decision {
		if rng == nil {
			d, cand, base = Moments{}, Moments{}, Moments{}
			return Inconclusive
		}
		for range simEvery {
			shared := 3 * rng.NormFloat64()
			a := shared + 0.2 + 0.3*rng.NormFloat64()
			b := shared + 0.3*rng.NormFloat64()
			d.Add(a - b)
			cand.Add(a)
			base.Add(b)
		}
		return CheckMeanPaired("loss", d, c).Decision
	}
	firstLook(t, 200, Fail, paired)
	if got := CompareMeans("loss", cand, base, c).Decision; got != Inconclusive {
		t.Logf("unpaired verdict on the last rollout's data: %s", got)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	unpairedFound := 0
	for range powerRuns {
		var cm, bm Moments
		for range 200 {
			shared := 3 * rng.NormFloat64()
			cm.Add(shared + 0.2 + 0.3*rng.NormFloat64())
			bm.Add(3*rng.NormFloat64() + 0.3*rng.NormFloat64())
		}
		if CompareMeans("loss", cm, bm, c).Decision == Fail {
			unpairedFound++
		}
	}
	t.Logf("unpaired comparison found it within 200 requests in %d of %d rollouts", unpairedFound, powerRuns)
	if unpairedFound > powerRuns/10 {
		t.Errorf("unpaired comparison found a 0.2 shift under sd-3 noise in %d of %d rollouts: the scenario does not show pairing's benefit", unpairedFound, powerRuns)
	}
}

func TestDistributionsPower(t *testing.T) {
	c := Criterion{Direction: LowerIsBetter, Tolerance: 0.2, Relative: true, MinSamples: 100}
	steps := func(medC float64) func(*rand.Rand) Decision {
		cand := make([]int64, len(latencyBounds)+1)
		base := make([]int64, len(latencyBounds)+1)
		return func(rng *rand.Rand) Decision {
			if rng == nil {
				clear(cand)
				clear(base)
				return Inconclusive
			}
			latencyArm(rng, cand, medC, simEvery)
			latencyArm(rng, base, 40, simEvery)
			return CompareDistributions("latency", cand, base, latencyBounds, c).Decision
		}
	}
	t.Run("latency ×1.5 fails", func(t *testing.T) { firstLook(t, 1000, Fail, steps(60)) })
	t.Run("latency ×0.7 passes", func(t *testing.T) { firstLook(t, 1000, Pass, steps(28)) })
	t.Run("equal latency passes", func(t *testing.T) { firstLook(t, 3000, Pass, steps(40)) })
}
