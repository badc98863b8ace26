package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// genSample draws n values of one of several shapes: continuous, shifted,
// scaled, integer-valued (many ties), with atoms, or far outside.
func genSample(rng *rand.Rand, kind, n int, shift float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		switch kind {
		case 0:
			out[i] = rng.NormFloat64() + shift
		case 1:
			out[i] = rng.ExpFloat64() * (1 + shift)
		case 2:
			out[i] = float64(rng.IntN(6)) + math.Round(shift)
		case 3: // an atom at 0 plus a continuous part
			if rng.Float64() < 0.4 {
				out[i] = 0
			} else {
				out[i] = rng.NormFloat64() + shift
			}
		case 4:
			out[i] = rng.NormFloat64()*0.01 + 10*shift
		default:
			out[i] = math.Round((rng.NormFloat64()+shift)*10) / 10
		}
	}
	return out
}

// TestKSBinnedBound checks the stated error of the live KS statistic on
// random samples: with D the exact ks_2samp statistic of the raw values,
//
//	KSStatistic <= D <= KSStatisticMax <= KSStatistic + max_i min(b_i, c_i)
//
// where b_i and c_i are the baseline's and the window's shares of grid bin
// i, and the live p-value is never below the exact D's p-value. It also
// checks that a window's PSI and JS equal the offline ones for the same rows.
func TestKSBinnedBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const eps = 1e-12
	worst := 0.0
	for c := range 300 {
		grid := []int{10, 20, 100, 200}[rng.IntN(4)]
		nb, nc := 1+rng.IntN(2000), 1+rng.IntN(1500)
		bkind, ckind := rng.IntN(6), rng.IntN(6)
		if rng.IntN(2) == 0 {
			ckind = bkind
		}
		shift := []float64{0, 0, 0.1, 0.5, 2}[rng.IntN(5)]
		base := genSample(rng, bkind, nb, 0)
		cur := genSample(rng, ckind, nc, shift)
		name := fmt.Sprintf("case %d (grid %d, n %d/%d, kinds %d/%d, shift %v)", c, grid, nb, nc, bkind, ckind, shift)

		bs := Sample{Columns: []Column{{Name: "x", Kind: Numeric, Num: base}}}
		b, err := BuildBaseline(bs, BaselineOptions{GridBins: grid})
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWindow(b, WindowOptions{Rows: nc, Slots: 1, Thresholds: Thresholds{MinCount: -1}})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1e9, 0)
		for _, v := range cur {
			w.Observe(now, Row{Values: []float64{v}})
		}
		live := w.Report(now).Features[0]

		d := ksStatisticSorted(sortedCopy(base), sortedCopy(cur))
		lower, upper := *live.KSStatistic, *live.KSStatisticMax
		nd := b.Features[0].Numeric
		curCounts := make([]int64, len(nd.Counts))
		for _, v := range cur {
			curCounts[binOf(nd.Edges, v)]++
		}
		mass := 0.0
		for i := range nd.Counts {
			mass = math.Max(mass, math.Min(float64(nd.Counts[i])/float64(nb), float64(curCounts[i])/float64(nc)))
		}
		if lower > d+eps || d > upper+eps || upper > lower+mass+eps {
			t.Errorf("%s: want lower %.6g <= D %.6g <= upper %.6g <= lower + max bin mass %.6g", name, lower, d, upper, lower+mass)
		}
		// Without repeated values every baseline bin holds about 1/grid of
		// it, and so the bound is about 1/grid whatever the current data.
		if continuous := bkind == 0 || bkind == 1 || bkind == 4; continuous && upper-lower > 1/float64(grid)+2/float64(nb)+eps {
			t.Errorf("%s: upper - lower = %.6g, want <= 1/grid + 2/n = %.6g", name, upper-lower, 1/float64(grid)+2/float64(nb))
		}
		worst = math.Max(worst, d-lower)

		exactP := ksTest(d, nb, nc, liveMaxExactWork).PValue
		if *live.KSPValue < exactP-eps {
			t.Errorf("%s: live p-value %.6g below the exact D's %.6g", name, *live.KSPValue, exactP)
		}

		off, err := Compare(bs, Sample{Columns: []Column{{Name: "x", Kind: Numeric, Num: cur}}}, Options{BaselineOptions{GridBins: grid}, Thresholds{}})
		if err != nil {
			t.Fatal(err)
		}
		o := off.Features[0]
		if math.Abs(*o.PSI-*live.PSI) > eps || math.Abs(*o.JS-*live.JS) > eps {
			t.Errorf("%s: live PSI %v JS %v, offline %v %v", name, *live.PSI, *live.JS, *o.PSI, *o.JS)
		}
		if math.Abs(*o.KSStatistic-d) > eps {
			t.Errorf("%s: offline D %v, exact %v", name, *o.KSStatistic, d)
		}
	}
	t.Logf("largest D - KSStatistic seen: %.4g", worst)
}

func numericBaseline(t *testing.T, n int) *Baseline {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	b, err := BuildBaseline(Sample{
		Columns: []Column{
			{Name: "x", Kind: Numeric, Num: genSample(rng, 0, n, 0)},
			{Name: "color", Kind: Categorical, Cat: pick(rng, n, "red", "green", "blue")},
			{Name: "plan", Kind: Categorical, Num: genSample(rng, 2, n, 0)},
		},
		Prediction: &Column{Name: "class", Kind: Categorical, Cat: pick(rng, n, "yes", "no")},
	}, BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pick(rng *rand.Rand, n int, labels ...string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = labels[rng.IntN(len(labels))]
	}
	return out
}

func TestWindowTimeSlides(t *testing.T) {
	b := numericBaseline(t, 1000)
	w, err := NewWindow(b, WindowOptions{Size: 10 * time.Minute, Slots: 10})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_040, 0) // on a minute: slots start at multiples of their span
	row := Row{Values: []float64{0.1, math.NaN(), 1}, Labels: []string{"", "red", ""}, PredictionLabel: "yes"}
	// One row a second for 15 minutes.
	for s := range 15 * 60 {
		w.Observe(t0.Add(time.Duration(s)*time.Second), row)
	}
	now := t0.Add(15*time.Minute - time.Second)
	r := w.Report(now)
	// The window holds the 10 one-minute slots up to now's: minutes 5..14.
	if r.Rows != 600 {
		t.Errorf("rows %d, want 600 (10 slots of 60)", r.Rows)
	}
	if want := t0.Add(5 * time.Minute).UTC(); !r.Start.Equal(want) || !r.End.Equal(now.UTC()) {
		t.Errorf("span %v..%v, want %v..%v", r.Start, r.End, want, now.UTC())
	}
	// A row older than the slot now holding its position is refused.
	w.Observe(t0, row)
	if w.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", w.Dropped())
	}
	// Later, the whole window has expired.
	if r := w.Report(now.Add(time.Hour)); r.Rows != 0 || r.Drifted {
		t.Errorf("an hour later: rows %d drifted %v, want 0 and false", r.Rows, r.Drifted)
	}
	// Every row was the same, so the window drifted on x and on color.
	for _, f := range r.Features {
		if f.Feature == "x" || f.Feature == "color" {
			if !f.Drifted {
				t.Errorf("%s not flagged: %+v", f.Feature, f)
			}
		}
	}
	if r.Prediction == nil || r.Prediction.Count != 600 {
		t.Errorf("prediction report %+v, want 600 values", r.Prediction)
	}
}

func TestWindowCountSlides(t *testing.T) {
	b := numericBaseline(t, 500)
	w, err := NewWindow(b, WindowOptions{Rows: 100, Slots: 10})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	for i := range 255 {
		w.Observe(now, Row{Values: []float64{float64(i), math.NaN(), 2}, Prediction: math.NaN()})
	}
	r := w.Report(now)
	// 255 rows in slots of 10: the last 9 full slots and 5 rows.
	if r.Rows != 95 {
		t.Errorf("rows %d, want 95", r.Rows)
	}
	for _, f := range r.Features {
		if f.Feature == "color" && f.MissingRate != 1 {
			t.Errorf("color missing rate %v, want 1 (no labels, NaN codes)", f.MissingRate)
		}
		if f.Feature == "plan" && (f.Count != 95 || f.PSI == nil) {
			t.Errorf("plan: %+v, want 95 values counted by code", f)
		}
	}
	if r.Prediction.MissingRate != 1 {
		t.Errorf("prediction missing rate %v, want 1", r.Prediction.MissingRate)
	}
}

func TestWindowMatchesCategoricalOffline(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	bs := Sample{Columns: []Column{{Name: "c", Kind: Categorical, Cat: pick(rng, 2000, "a", "b", "c", "d", "e", "f")}}}
	b, err := BuildBaseline(bs, BaselineOptions{TopK: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Features[0].Categorical.Categories) != 3 || b.Features[0].Categorical.Other == 0 {
		t.Fatalf("top-3 baseline: %+v", b.Features[0].Categorical)
	}
	cur := pick(rng, 700, "a", "a", "b", "g", "")
	w, err := NewWindow(b, WindowOptions{Rows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cur {
		w.Observe(time.Time{}, Row{Labels: []string{l}})
	}
	live := w.Report(time.Time{}).Features[0]
	off, err := Compare(bs, Sample{Columns: []Column{{Name: "c", Kind: Categorical, Cat: cur}}}, Options{Baseline: BaselineOptions{TopK: 3}})
	if err != nil {
		t.Fatal(err)
	}
	o := off.Features[0]
	for _, p := range [][2]*float64{{live.PSI, o.PSI}, {live.JS, o.JS}, {live.Chi2, o.Chi2}, {live.Chi2PValue, o.Chi2PValue}} {
		if p[0] == nil || p[1] == nil || *p[0] != *p[1] {
			t.Errorf("live %v, offline %v: want equal", p[0], p[1])
		}
	}
	if !live.Drifted || live.KSStatistic != nil {
		t.Errorf("categorical report %+v: want drifted, no KS", live)
	}
}

func TestWindowOptionsErrors(t *testing.T) {
	b := numericBaseline(t, 100)
	for _, o := range []WindowOptions{
		{},
		{Size: time.Hour, Rows: 10},
		{Rows: 5, Slots: 10},
		{Size: time.Microsecond},
		{Rows: 100, Slots: -1},
	} {
		if _, err := NewWindow(b, o); err == nil {
			t.Errorf("NewWindow(%+v) succeeded, want an error", o)
		}
	}
}

func TestWindowConcurrent(t *testing.T) {
	b := numericBaseline(t, 200)
	w, err := NewWindow(b, WindowOptions{Rows: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				w.Observe(time.Unix(int64(i), 0), Row{Values: []float64{float64(g), 1, 1}, Labels: []string{"", "red"}})
				if i%250 == 0 {
					w.Report(time.Unix(int64(i), 0))
				}
			}
		})
	}
	wg.Wait()
	if r := w.Report(time.Unix(0, 0)); r.Rows != 4000 {
		t.Errorf("rows %d, want 4000", r.Rows)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	b := numericBaseline(t, 1000)
	w, err := NewWindow(b, WindowOptions{Size: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	row := Row{Values: []float64{0.3, math.NaN(), 2}, Labels: []string{"", "blue", ""}, PredictionLabel: "no"}
	now := time.Unix(1e9, 0)
	w.Observe(now, row)
	if n := testing.AllocsPerRun(1000, func() { w.Observe(now, row) }); n != 0 {
		t.Errorf("Observe allocates %v times per row, want 0", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	var cols []Column
	for i := range 20 {
		cols = append(cols, Column{Name: fmt.Sprint("n", i), Kind: Numeric, Num: genSample(rng, 0, 5000, 0)})
	}
	for i := range 5 {
		cols = append(cols, Column{Name: fmt.Sprint("c", i), Kind: Categorical, Cat: pick(rng, 5000, "a", "b", "c", "d")})
	}
	base, err := BuildBaseline(Sample{Columns: cols, Prediction: &Column{Name: "p", Kind: Numeric, Num: genSample(rng, 1, 5000, 0)}}, BaselineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWindow(base, WindowOptions{Size: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	row := Row{Values: make([]float64, 25), Labels: make([]string, 25), Prediction: 0.7}
	for i := range 20 {
		row.Values[i] = rng.NormFloat64()
	}
	for i := 20; i < 25; i++ {
		row.Labels[i] = "c"
	}
	now := time.Unix(1e9, 0)
	b.ReportAllocs()
	for b.Loop() {
		w.Observe(now, row)
	}
}

func BenchmarkReport(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cols []Column
	for i := range 20 {
		cols = append(cols, Column{Name: fmt.Sprint("n", i), Kind: Numeric, Num: genSample(rng, 0, 50000, 0)})
	}
	base, err := BuildBaseline(Sample{Columns: cols}, BaselineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWindow(base, WindowOptions{Rows: 20000})
	if err != nil {
		b.Fatal(err)
	}
	row := Row{Values: make([]float64, 20)}
	now := time.Unix(1e9, 0)
	for range 20000 {
		for i := range row.Values {
			row.Values[i] = rng.NormFloat64() + 0.05
		}
		w.Observe(now, row)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Report(now)
	}
}
