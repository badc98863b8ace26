package advise

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/manifest"
	"github.com/sluicehq/sluice/internal/rollout"
)

func TestAdvise(t *testing.T) {
	busy := Facts{Endpoint: "fraud", Candidate: "3", RequestsPerHour: 36000, ErrorRate: 0.005, P99: 12 * time.Millisecond}
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
	tests := []struct {
		name     string
		facts    Facts
		strategy string
		serving  string
		steps    []string // each step's Describe(), prefix-matched
		reason   string   // a reason contains this
		warning  string   // a warning contains this
		check    func(t *testing.T, a Advice)
	}{
		{
			name: "busy endpoint: canary", facts: busy, strategy: Canary, serving: "real-time",
			steps:  []string{"setWeight 10", "analysis", "setWeight 50", "analysis", "setWeight 100"},
			reason: "36000 requests an hour are enough",
		},
		{
			name: "high risk tolerance starts at 25%", facts: with(busy, func(f *Facts) { f.Risk = High }), strategy: Canary,
			steps: []string{"setWeight 25", "analysis", "setWeight 50", "analysis", "setWeight 100"},
		},
		{
			name: "a trickle of traffic: blue-green", facts: with(busy, func(f *Facts) { f.RequestsPerHour = 5 }), strategy: BlueGreen,
			steps:  []string{"pause until promoted", "switch", "analysis"},
			reason: "even a 50% canary needs",
		},
		{
			name: "no traffic measured: blue-green", facts: Facts{Endpoint: "new", ErrorRate: -1}, strategy: BlueGreen,
			reason: "no traffic was measured", warning: "no requests to stable measured yet",
		},
		{
			name: "regulated with prompt labels: champion-challenger",
			facts: with(busy, func(f *Facts) {
				f.Regulated, f.Labels, f.LabelDelay, f.LabelsPerHour, f.Accuracy = true, true, 10*time.Minute, 3000, 0.93
			}),
			strategy: ChampionChallenger, steps: []string{"challenge", "setWeight 50", "analysis", "setWeight 100"},
			reason: "requires approval",
			check: func(t *testing.T, a Advice) {
				g := a.Rollout.Spec.Gates
				if g == nil || !g.Signature || g.ModelCard == nil {
					t.Errorf("regulated plan without signature and model card gates: %+v", g)
				}
				if a.Rollout.Spec.Analysis.Inconclusive != "fail" || a.Rollout.Spec.Analysis.Alpha != 0.01 {
					t.Errorf("analysis = %+v, want inconclusive fail and alpha 0.01", a.Rollout.Spec.Analysis)
				}
				if ch := a.Rollout.Spec.Steps[0].Challenge; time.Duration(ch.Duration) < 10*time.Minute {
					t.Errorf("challenge lasts %v, less than the label delay", ch.Duration)
				}
			},
		},
		{
			name: "regulated without labels: shadow first", facts: with(busy, func(f *Facts) { f.Regulated = true }),
			strategy: ShadowThenCanary, steps: []string{"mirror 100%", "setWeight 5", "analysis", "setWeight 50", "analysis", "setWeight 100"},
			check: func(t *testing.T, a Advice) {
				m := a.Rollout.Spec.Steps[0].Mirror
				if m.Metrics[0].Type != rollout.MetricShadowAgreement || m.Metrics[0].Tolerance != 0.97 {
					t.Errorf("mirror metrics = %+v", m.Metrics)
				}
			},
		},
		{
			name: "low risk tolerance without regulation: shadow first", facts: with(busy, func(f *Facts) { f.Risk = Low }),
			strategy: ShadowThenCanary, reason: "risk tolerance is low",
		},
		{
			name: "compare with labels: champion-challenger", facts: with(busy, func(f *Facts) { f.Goal, f.Labels, f.LabelDelay = Compare, true, time.Hour }),
			strategy: ChampionChallenger, reason: "paired",
		},
		{
			name: "optimize with rewards: bandit", facts: with(busy, func(f *Facts) { f.Goal, f.Rewards, f.MeanReward = Optimize, true, 0.04 }),
			strategy: Bandit, steps: []string{"bandit thompson"}, reason: "the goal is reward",
		},
		{
			name: "three candidates with rewards: bandit", facts: with(busy, func(f *Facts) { f.Candidates, f.Rewards = 3, true }),
			strategy: Bandit, reason: "3 candidates compete", warning: "no rewards yet",
		},
		{
			name: "optimize without rewards: no bandit", facts: with(busy, func(f *Facts) { f.Goal = Optimize }),
			strategy: Canary, warning: "no rewards come back",
		},
		{
			name: "labels days late are not waited for", facts: with(busy, func(f *Facts) { f.Labels, f.LabelDelay = true, 72*time.Hour }),
			strategy: Canary, warning: "later than an analysis can wait",
			check: func(t *testing.T, a Advice) {
				for _, m := range a.Rollout.Spec.Analysis.Metrics {
					if m.Type == rollout.MetricAccuracy {
						t.Errorf("accuracy judged though labels come 3 days late")
					}
				}
			},
		},
		{
			name: "prompt labels add accuracy", facts: with(busy, func(f *Facts) { f.Labels, f.LabelDelay, f.LabelsPerHour = true, 5*time.Minute, 1000 }),
			strategy: Canary,
			check: func(t *testing.T, a Advice) {
				found := false
				for _, q := range a.Samples {
					found = found || q.Metric == "accuracy"
				}
				if !found {
					t.Errorf("no accuracy sample size quoted: %+v", a.Samples)
				}
			},
		},
		{
			name: "latency budget close to p99", facts: with(busy, func(f *Facts) { f.LatencyBudget, f.P99 = 100*time.Millisecond, 70*time.Millisecond }),
			strategy: Canary, reason: "latency sensitive",
			check: func(t *testing.T, a Advice) {
				hl := a.Rollout.Spec.HardLimits
				if len(hl) != 2 || hl[1].Metric != rollout.MetricLatency || hl[1].Above != 0.1 {
					t.Errorf("hard limits = %+v, want a latency limit at 0.1 s", hl)
				}
				if m := a.Rollout.Spec.Analysis.Metrics[1]; m.Tolerance != 0.1 {
					t.Errorf("latency tolerance %v, want 0.1", m.Tolerance)
				}
			},
		},
		{name: "files: batch", facts: with(busy, func(f *Facts) { f.Arrival = Files }), strategy: Canary, serving: "batch"},
		{name: "named", facts: with(busy, func(f *Facts) { f.Name = "fraud-v3" }), strategy: Canary, check: func(t *testing.T, a Advice) {
			if a.Rollout.Metadata.Name != "fraud-v3" {
				t.Errorf("name = %s", a.Rollout.Metadata.Name)
			}
		}},
		{name: "events: streaming", facts: with(busy, func(f *Facts) { f.Arrival = Events }), strategy: Canary, serving: "streaming"},
		{name: "devices: edge", facts: with(busy, func(f *Facts) { f.Arrival = Devices }), strategy: Canary, serving: "edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Advise(tt.facts)
			if err != nil {
				t.Fatal(err)
			}
			if a.Strategy != tt.strategy {
				t.Errorf("strategy = %s, want %s (reasons %q)", a.Strategy, tt.strategy, a.Reasons)
			}
			if tt.serving != "" && a.Serving != tt.serving {
				t.Errorf("serving = %s, want %s", a.Serving, tt.serving)
			}
			if tt.steps != nil {
				var got []string
				for _, st := range a.Rollout.Spec.Steps {
					got = append(got, st.Describe())
				}
				ok := len(got) == len(tt.steps)
				for i := 0; ok && i < len(got); i++ {
					ok = strings.HasPrefix(got[i], tt.steps[i])
				}
				if !ok {
					t.Errorf("steps = %q, want %q", got, tt.steps)
				}
			}
			if tt.reason != "" && !strings.Contains(strings.Join(a.Reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q lack %q", a.Reasons, tt.reason)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(a.Warnings, "\n"), tt.warning) {
				t.Errorf("warnings %q lack %q", a.Warnings, tt.warning)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
			checkQuotes(t, tt.facts, a)
			checkApplicable(t, a)
		})
	}
}

// checkQuotes recomputes every quoted error-rate sample size with the
// analysis package and checks each analysis step lasts long enough to
// collect the samples the quotes at its weight need.
func checkQuotes(t *testing.T, f Facts, a Advice) {
	t.Helper()
	if len(a.Samples) == 0 {
		t.Fatal("no sample sizes quoted")
	}
	for _, q := range a.Samples {
		if q.Size.Candidate < 100 || (q.Size.Decision != analysis.Pass && q.Size.Decision != analysis.Fail) {
			t.Errorf("quote %+v", q)
		}
		if q.Metric != "errorRate" || f.ErrorRate < 0 {
			continue
		}
		rp := riskPlans[orRisk(f)]
		c := analysis.Criterion{Direction: analysis.LowerIsBetter, Tolerance: rp.errTol, Alpha: rp.alpha, MinSamples: 100}
		cand := max(f.ErrorRate, 0.001)
		if q.Size.Decision == analysis.Fail {
			cand += 2 * rp.errTol
		}
		want, err := analysis.ProportionSampleSize(cand, max(f.ErrorRate, 0.001), analysis.Plan{Criterion: c, Share: q.Share})
		if err != nil || want != q.Size {
			t.Errorf("quote %+v; analysis.ProportionSampleSize says %+v, %v", q.Size, want, err)
		}
		if f.RequestsPerHour > 0 {
			wantD := time.Duration(float64(q.Size.Candidate) / (q.Share * f.RequestsPerHour) * float64(time.Hour))
			if d := q.Duration - wantD; d < -time.Second || d > time.Second {
				t.Errorf("quote duration %v, want %v", q.Duration, wantD)
			}
		}
	}
	// Canary analysis steps outlast the candidate samples that pass a good
	// candidate.
	steps := a.Rollout.Spec.Steps
	for i := 1; i < len(steps); i++ {
		if steps[i].Analysis == nil || steps[i-1].SetWeight == nil {
			continue
		}
		share := *steps[i-1].SetWeight / 100
		for _, q := range a.Samples {
			if q.Metric == "errorRate" && q.Size.Decision == analysis.Pass && q.Share == share && q.Duration > 0 && time.Duration(steps[i].Analysis.Duration) < q.Duration {
				t.Errorf("step %d lasts %v, less than the %v its %d samples take", i, steps[i].Analysis.Duration, q.Duration, q.Size.Candidate)
			}
		}
	}
}

func orRisk(f Facts) Risk {
	if f.Risk != "" {
		return f.Risk
	}
	if f.Regulated {
		return Low
	}
	return Medium
}

// checkApplicable writes the advice's rollout as apply reads it.
func checkApplicable(t *testing.T, a Advice) {
	t.Helper()
	y, err := manifest.Marshal(&a.Rollout)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifest.Parse("advice.yaml", ".", y)
	if err != nil || len(docs) != 1 || docs[0].Kind != manifest.KindRollout {
		t.Errorf("the advised rollout does not parse as a manifest: %v\n%s", err, y)
	}
}

func TestAdviseRefusesBadFacts(t *testing.T) {
	for _, f := range []Facts{
		{},
		{Endpoint: "e", Risk: "reckless"},
		{Endpoint: "e", Goal: "win"},
		{Endpoint: "e", Arrival: "pigeons"},
		{Endpoint: "e", RequestsPerHour: -1},
		{Endpoint: "e", ErrorRate: 2},
		{Endpoint: "e", Accuracy: 1.5},
	} {
		if _, err := Advise(f); err == nil {
			t.Errorf("Advise(%+v) accepted", f)
		}
	}
}
