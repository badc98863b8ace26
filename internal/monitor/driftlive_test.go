package monitor

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/monitor/drift"
)

// testBaseline is a baseline of nf standard normal features and a score.
func testBaseline(t testing.TB, nf int) (*drift.Baseline, []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var s drift.Sample
	var names []string
	for j := range nf {
		c := drift.Column{Name: "f" + strconv.Itoa(j), Kind: drift.Numeric, Num: make([]float64, 2000)}
		for i := range c.Num {
			c.Num[i] = rng.NormFloat64()
		}
		s.Columns = append(s.Columns, c)
		names = append(names, c.Name)
	}
	p := drift.Column{Name: "prediction", Kind: drift.Numeric, Num: make([]float64, 2000)}
	for i := range p.Num {
		p.Num[i] = rng.Float64()
	}
	s.Prediction = &p
	b, err := drift.BuildBaseline(s, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b, names
}

func TestDriftWindowAndScore(t *testing.T) {
	base, names := testBaseline(t, 3)
	d, err := NewDrift(drift.WindowOptions{Rows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.InputDrift("e", 1, time.Now()); ok {
		t.Fatal("InputDrift before any request: want false")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Now()
	// The request's columns are in another order than the baseline's, and
	// feature f1 is shifted by two standard deviations.
	order := []string{names[2], names[0], names[1]}
	for range 500 {
		row := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64() + 2}
		d.Observe("e", 1, base, Matrix{Features: order, F64: row, Rows: 1}, Prediction{Version: 1, Width: 1, Values: []float64{rng.Float64()}}, now)
	}
	sc, ok := d.InputDrift("e", 1, now)
	if !ok || sc.Feature != "f1" || sc.MaxPSI < 1 || !sc.Drifted || sc.DriftedFeatures != 1 || sc.Rows != 500 || sc.PredictionPSI == nil || *sc.PredictionPSI > 0.1 {
		t.Errorf("score: %+v", sc)
	}
	// A count window keeps the last 1000 rows whatever the traffic.
	for range 5000 {
		d.Observe("e", 1, base, Matrix{Features: order, F32: []float32{0, 0, 0}, Rows: 1}, Prediction{}, now)
	}
	r, _ := d.Report("e", 1, now)
	if r.Rows < 900 || r.Rows > 1000 {
		t.Errorf("rows after 5500: %d, want 900..1000", r.Rows)
	}
	if len(d.Reports("e", now)) != 1 || len(d.Reports("other", now)) != 0 || len(d.CachedReports(now)) != 1 {
		t.Errorf("reports by endpoint")
	}
}

func TestNewDriftRejectsBadWindows(t *testing.T) {
	for _, o := range []drift.WindowOptions{{Rows: 3}, {Size: time.Nanosecond}, {Size: time.Hour, Rows: 10}, {Size: time.Hour, Slots: 5000}} {
		if _, err := NewDrift(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

func TestPredictionValue(t *testing.T) {
	tests := []struct {
		p    Prediction
		r    int
		want float64
	}{
		{Prediction{Width: 1, Values: []float64{0.3, 0.7}}, 1, 0.7},
		{Prediction{Width: 2, Values: []float64{0.3, 0.7}}, 0, 0.7},
		{Prediction{Width: 3, Values: []float64{0.1, 0.7, 0.2}}, 0, 1},
		{Prediction{Width: 1, Values: []float64{0.3}}, 1, math.NaN()},
		{Prediction{}, 0, math.NaN()},
	}
	for _, tt := range tests {
		if got := PredictionValue(tt.p, tt.r); got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("PredictionValue(%+v, %d) = %v, want %v", tt.p, tt.r, got, tt.want)
		}
	}
}

func TestFairnessBoundsGroups(t *testing.T) {
	f := NewFairness()
	for i := range 500 {
		f.Observe("e", Prediction{Version: 1, Width: 1, Values: []float64{0.9}}, []string{"g" + strconv.Itoa(i)})
	}
	vs := f.Versions("e")
	if len(vs[0].Groups) != MaxGroups {
		t.Fatalf("%d groups, want %d", len(vs[0].Groups), MaxGroups)
	}
	var other int64
	for _, g := range vs[0].Groups {
		if g.Group == OtherGroup {
			other = g.Rows
		}
	}
	if other != 500-MaxGroups+1 || other == 0 {
		t.Errorf("(other) has %d rows, want %d", other, 500-MaxGroups+1)
	}
}

// BenchmarkDriftReport measures one live report of a 30-feature version
// (what a scrape, an API call or an alert evaluation computes).
func BenchmarkDriftReport(b *testing.B) {
	base, names := testBaseline(b, 30)
	d, _ := NewDrift(drift.WindowOptions{Size: time.Hour})
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Now()
	row := make([]float64, 30)
	for range 10000 {
		for j := range row {
			row[j] = rng.NormFloat64() + 0.3
		}
		d.Observe("e", 1, base, Matrix{Features: names, F64: row, Rows: 1}, Prediction{Version: 1, Width: 1, Values: []float64{rng.Float64()}}, now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Report("e", 1, now)
	}
}

// TestDriftWindowFollowsTheBaseline: a reloaded version (an equal
// baseline) keeps its window; an endpoint made again for another model
// (a different baseline under the same version number) starts afresh.
func TestDriftWindowFollowsTheBaseline(t *testing.T) {
	base, names := testBaseline(t, 2)
	d, _ := NewDrift(drift.WindowOptions{})
	now := time.Now()
	obs := func(b *drift.Baseline) {
		d.Observe("e", 1, b, Matrix{Features: names, F64: []float64{0.1, 0.2}, Rows: 1}, Prediction{}, now)
	}
	obs(base)
	reloaded := *base
	obs(&reloaded)
	if r, _ := d.Report("e", 1, now); r.Rows != 2 {
		t.Fatalf("after a reload: %d rows, want 2", r.Rows)
	}
	other, err := drift.BuildBaseline(drift.Sample{Columns: []drift.Column{
		{Name: names[0], Kind: drift.Numeric, Num: []float64{1, 2, 3}},
		{Name: names[1], Kind: drift.Numeric, Num: []float64{4, 5, 6}},
	}}, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obs(other)
	if r, ok := d.Report("e", 1, now); !ok || r.Rows != 1 || r.BaselineRows != 3 {
		t.Fatalf("after a new baseline: %+v, want 1 row against 3", r)
	}
}
