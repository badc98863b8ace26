package monitor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestRecentBounds(t *testing.T) {
	r := NewRecent(3, time.Hour)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		r.Add(&Request{ID: fmt.Sprint(i), Time: now})
	}
	if r.Len() != 3 || r.Dropped() != 2 {
		t.Errorf("Len %d Dropped %d, want 3 and 2", r.Len(), r.Dropped())
	}
	for id, want := range map[string]bool{"0": false, "1": false, "2": true, "4": true} {
		if _, ok := r.Get(id); ok != want {
			t.Errorf("Get(%s) = %v, want %v", id, ok, want)
		}
	}
	if !r.AddMirror("4", Prediction{Version: 2}) || r.AddMirror("0", Prediction{}) {
		t.Error("AddMirror on a remembered / forgotten id")
	}
	got, _ := r.Get("4")
	if len(got.Mirrors) != 1 {
		t.Errorf("mirrors = %v", got.Mirrors)
	}
	now = now.Add(2 * time.Hour)
	if _, ok := r.Get("4"); ok {
		t.Error("request older than the horizon is still returned")
	}
	r.Add(&Request{ID: "new", Time: now})
	if r.Len() != 1 {
		t.Errorf("after expiry Len = %d, want 1", r.Len())
	}
}

func TestComparison(t *testing.T) {
	c := NewComparison()
	a := Prediction{Version: 1, Width: 1, Values: []float64{0.1, 0.9, 0.6}, Latency: time.Millisecond}
	m := Prediction{Version: 2, Role: "shadow", Width: 1, Values: []float64{0.2, 0.8, 0.4}, Latency: 3 * time.Millisecond}
	c.Add("e", a, m, "country=DE")
	c.Add("e", a, Prediction{Version: 2, Err: "boom"}, "")
	all := c.Stats("e")
	if len(all) != 2 {
		t.Fatalf("stats = %+v, want overall and one segment", all)
	}
	p := all[0]
	if p.Segment != "" || p.Requests != 1 || p.Errors != 1 || p.Rows != 3 || p.ClassRows != 3 || p.AgreedRows != 2 {
		t.Errorf("overall = %+v", p)
	}
	if math.Abs(p.MaxAbsDiff-0.2) > 1e-12 || math.Abs(p.MeanAbsDiff()-0.4/3) > 1e-12 {
		t.Errorf("diffs: max %v mean %v", p.MaxAbsDiff, p.MeanAbsDiff())
	}
	if math.Abs(p.Agreement()-2.0/3) > 1e-12 || p.MirrorLatencyMax != 3*time.Millisecond {
		t.Errorf("agreement %v latency %v", p.Agreement(), p.MirrorLatencyMax)
	}
	// Regression outputs are not class outputs.
	c.Add("r", Prediction{Version: 1, Width: 1, Values: []float64{10}}, Prediction{Version: 2, Width: 1, Values: []float64{12}}, "")
	if r := c.Stats("r")[0]; r.ClassRows != 0 || !math.IsNaN(r.Agreement()) || r.MaxAbsDiff != 2 {
		t.Errorf("regression pair = %+v", r)
	}
}

func TestLoss(t *testing.T) {
	tests := []struct {
		p       Prediction
		labels  []float64
		loss    float64
		wantErr bool
	}{
		{Prediction{Width: 1, Values: []float64{0.9, 0.2}}, []float64{1, 1}, 0.5, false},
		{Prediction{Width: 3, Values: []float64{0.1, 0.7, 0.2, 0.5, 0.3, 0.2}}, []float64{1, 0}, 0, false},
		{Prediction{Width: 1, Values: []float64{10, 20}}, []float64{12, 20}, 2, false},
		{Prediction{Width: 1, Values: []float64{10}}, []float64{1, 2}, 0, true},
		{Prediction{Width: 3, Values: []float64{0.1, 0.7, 0.2}}, []float64{7}, 0, true},
	}
	for i, tt := range tests {
		loss, _, _, _, err := Loss(tt.p, tt.labels)
		if (err != nil) != tt.wantErr || (!tt.wantErr && math.Abs(loss-tt.loss) > 1e-12) {
			t.Errorf("%d: Loss = %v, %v; want %v (err %v)", i, loss, err, tt.loss, tt.wantErr)
		}
	}
}

// TestChampionChallengerVerdict simulates a champion with 20% errors and a
// challenger with 10% on the same requests: the verdict must name the
// challenger; with equal error rates it must stay undecided in at least 90%
// of repeated trials (the test is at the 5% level).
func TestChampionChallengerVerdict(t *testing.T) {
	run := func(seed uint64, champErr, challErr float64, n int) Verdict {
		rng := rand.New(rand.NewPCG(seed, 7))
		o := NewOutcomes()
		for i := 0; i < n; i++ {
			label := float64(rng.IntN(2))
			pred := func(errRate float64) float64 {
				if rng.Float64() < errRate {
					return 1 - label
				}
				return label
			}
			req := Request{ID: fmt.Sprint(i), Endpoint: "e",
				Answer:  Prediction{Version: 1, Width: 1, Values: []float64{pred(champErr)}},
				Mirrors: []Prediction{{Version: 2, Role: "challenger", Width: 1, Values: []float64{pred(challErr)}}},
			}
			if err := o.Join(req, Feedback{RequestID: req.ID, Labels: []float64{label}}); err != nil {
				t.Fatal(err)
			}
		}
		return o.Pairs("e")[0].Verdict()
	}
	if v := run(1, 0.2, 0.1, 2000); v.Better != "challenger" || v.Low <= 0 {
		t.Errorf("better challenger: verdict %+v", v)
	}
	undecided := 0
	for s := uint64(0); s < 100; s++ {
		if run(s, 0.15, 0.15, 500).Better == "undecided" {
			undecided++
		}
	}
	if undecided < 90 {
		t.Errorf("equal versions: undecided in %d of 100 trials, want at least 90", undecided)
	}
}

func TestFeedbackDelay(t *testing.T) {
	o := NewOutcomes()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, delay := range []time.Duration{time.Minute, 3 * time.Minute, 2 * time.Hour} {
		req := Request{ID: fmt.Sprint(i), Endpoint: "e", Time: t0, Answer: Prediction{Version: 1, Width: 1, Values: []float64{1}}}
		if err := o.Join(req, Feedback{RequestID: req.ID, Reward: 1, HasReward: true, At: t0.Add(delay)}); err != nil {
			t.Fatal(err)
		}
	}
	d := o.Delay("e")
	if d.N != 3 || d.Mean() != (time.Minute+3*time.Minute+2*time.Hour)/3 || d.Max != 7200 {
		t.Errorf("delay = %+v (mean %v), want 3 items, mean 41m20s, max 7200 s", d, d.Mean())
	}
	if o.Delay("other").N != 0 {
		t.Error("an endpoint without feedback has a delay")
	}
}
