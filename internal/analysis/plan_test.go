package analysis

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestSampleSizeBySimulation checks each planned size against seeded
// simulated rollouts that look every 10 candidate samples: by the planned
// size at least about Power of them have reached the planned verdict (and
// none the opposite), and the plan is not wildly conservative: by a quarter
// of it, fewer have.
func TestSampleSizeBySimulation(t *testing.T) {
	const runs, every = 300, 10
	errRate := Criterion{Direction: LowerIsBetter, Tolerance: 0.01, MinSamples: 100}
	acc := Criterion{Direction: HigherIsBetter, Tolerance: 0.02, MinSamples: 100}
	tests := []struct {
		name   string
		pc, pb float64
		c      Criterion
		share  float64
		want   Decision
		lo, hi int64 // the plan must fall in this range
	}{
		{"error rate 1% to 5% fails, equal arms", 0.05, 0.01, errRate, 0.5, Fail, 100, 1500},
		{"error rate 1% to 5% fails, 10% canary", 0.05, 0.01, errRate, 0.1, Fail, 100, 1500},
		{"error rate 1% stays, 10% canary passes", 0.01, 0.01, errRate, 0.1, Pass, 100, 5000},
		{"accuracy 90% to 80% fails", 0.80, 0.90, acc, 0.5, Fail, 100, 1500},
		{"accuracy 90% stays, 20% canary passes", 0.90, 0.90, acc, 0.2, Pass, 100, 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Plan{Criterion: tt.c, Share: tt.share}
			ss, err := ProportionSampleSize(tt.pc, tt.pb, plan)
			if err != nil {
				t.Fatal(err)
			}
			if ss.Decision != tt.want || ss.Candidate < tt.lo || ss.Candidate > tt.hi {
				t.Fatalf("plan = %+v, want %s within %d..%d candidate samples", ss, tt.want, tt.lo, tt.hi)
			}
			ratio := (1 - tt.share) / tt.share
			rng := rand.New(rand.NewPCG(5, uint64(ss.Candidate)))
			byPlan, byQuarter, wrong := 0, 0, 0
			for range runs {
				var cand, base Proportion
				decidedAt := int64(-1)
				for n := int64(every); n <= ss.Candidate; n += every {
					bernoulliArm(rng, &cand, tt.pc, every)
					target := int64(float64(n) * ratio)
					bernoulliArm(rng, &base, tt.pb, int(target-base.Trials))
					d := CompareProportions("m", cand, base, tt.c).Decision
					if d == Inconclusive {
						continue
					}
					if d != tt.want {
						wrong++
					} else {
						decidedAt = n
					}
					break
				}
				if decidedAt > 0 {
					byPlan++
					if decidedAt <= ss.Candidate/4 {
						byQuarter++
					}
				}
			}
			share, quarter := float64(byPlan)/runs, float64(byQuarter)/runs
			t.Logf("plan %d candidate + %d baseline samples: %s by then in %.1f%% of %d rollouts, by a quarter of it in %.1f%%",
				ss.Candidate, ss.Baseline, tt.want, 100*share, runs, 100*quarter)
			if share < ss.Power-0.05 {
				t.Errorf("only %.3f of rollouts reached %s by the planned size, want about %.2f or more", share, tt.want, ss.Power)
			}
			if quarter >= ss.Power {
				t.Errorf("%.3f of rollouts decided by a quarter of the plan: the plan is far too conservative", quarter)
			}
			if wrong > runs/20 {
				t.Errorf("%d rollouts reached the opposite verdict", wrong)
			}
		})
	}
}

func TestPairedSampleSizeBySimulation(t *testing.T) {
	const runs, every = 300, 10
	c := Criterion{Direction: LowerIsBetter, MinSamples: 50}
	ss, err := PairedSampleSize(0.2, 0.3*1.4142135623730951, Plan{Criterion: c})
	if err != nil {
		t.Fatal(err)
	}
	// The same case as TestPairedNeedsFewerSamples: found within 200.
	if ss.Decision != Fail || ss.Candidate > 200 {
		t.Fatalf("paired plan = %+v, want Fail within 200 pairs", ss)
	}
	unpaired, err := MeanSampleSize(3+0.2, 3, 3.015, 3.015, Plan{Criterion: Criterion{Direction: LowerIsBetter, MinSamples: 50, Tolerance: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if unpaired.Candidate < 10*ss.Candidate {
		t.Errorf("unpaired plan %d is not far above the paired %d", unpaired.Candidate, ss.Candidate)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	hit := 0
	for range runs {
		var d Moments
		for n := int64(every); n <= ss.Candidate; n += every {
			for range every {
				d.Add(0.2 + 0.3*rng.NormFloat64() - 0.3*rng.NormFloat64())
			}
			if CheckMeanPaired("d", d, c).Decision == Fail {
				hit++
				break
			}
		}
	}
	if share := float64(hit) / runs; share < ss.Power-0.05 {
		t.Errorf("paired: %.3f of rollouts failed by the planned %d pairs, want about %.2f", share, ss.Candidate, ss.Power)
	}
}

func TestSampleSizeErrors(t *testing.T) {
	c := Criterion{Direction: LowerIsBetter, Tolerance: 0.01}
	if _, err := ProportionSampleSize(0.02, 0.01, Plan{Criterion: c}); !errors.Is(err, ErrUndecidable) {
		t.Errorf("candidate at the tolerance: err = %v, want ErrUndecidable", err)
	}
	for _, p := range []Plan{{Criterion: c, Share: 1}, {Criterion: c, Power: 0.3}, {Criterion: Criterion{Alpha: 2}}} {
		if _, err := ProportionSampleSize(0.05, 0.01, p); err == nil || errors.Is(err, ErrUndecidable) {
			t.Errorf("plan %+v: err = %v, want a field error", p, err)
		}
	}
	if _, err := ProportionSampleSize(1.5, 0.01, Plan{Criterion: c}); err == nil {
		t.Error("a rate of 1.5 was accepted")
	}
	// A larger effect needs fewer samples.
	big, _ := ProportionSampleSize(0.10, 0.01, Plan{Criterion: c})
	small, _ := ProportionSampleSize(0.04, 0.01, Plan{Criterion: c})
	if big.Candidate >= small.Candidate {
		t.Errorf("a 10%% error rate needs %d samples, a 4%% one %d: want fewer for the larger effect", big.Candidate, small.Candidate)
	}
}
