package analysis

import "testing"

// The rollout controller calls these every few seconds per metric; they
// are pure arithmetic on counts. The only allocations are the Reason
// sentence (fmt) and, for histograms, none beyond it.

var sink Result

func BenchmarkCompareProportions(b *testing.B) {
	c := Criterion{Tolerance: 0.01, MinSamples: 100}
	cand, base := Proportion{Events: 52, Trials: 5000}, Proportion{Events: 480, Trials: 95000}
	b.ReportAllocs()
	for b.Loop() {
		sink = CompareProportions("error_rate", cand, base, c)
	}
}

func BenchmarkCheckProportion(b *testing.B) {
	p := Proportion{Events: 4900, Trials: 5000}
	b.ReportAllocs()
	for b.Loop() {
		sink = CheckProportion("shadow_agreement", p, 0.95, HigherIsBetter, 100, 0.05)
	}
}

func BenchmarkCompareMeans(b *testing.B) {
	c := Criterion{Tolerance: 0.1, Relative: true}
	cand := Moments{N: 5000, Mean: 1.02, M2: 10100}
	base := Moments{N: 95000, Mean: 1.0, M2: 190500}
	b.ReportAllocs()
	for b.Loop() {
		sink = CompareMeans("mse", cand, base, c)
	}
}

func BenchmarkCheckMeanPaired(b *testing.B) {
	d := Moments{N: 5000, Mean: 0.01, M2: 450}
	b.ReportAllocs()
	for b.Loop() {
		sink = CheckMeanPaired("loss", d, Criterion{Tolerance: 0.05})
	}
}

func BenchmarkCompareDistributions(b *testing.B) {
	cand := []int64{10, 80, 300, 700, 900, 850, 700, 600, 400, 250, 120, 50, 20, 10, 5, 3, 2}
	base := []int64{220, 1600, 6000, 14000, 18000, 17000, 14000, 12000, 8000, 5000, 2400, 1000, 400, 200, 100, 50, 30}
	c := Criterion{Tolerance: 0.1, Relative: true}
	b.ReportAllocs()
	for b.Loop() {
		sink = CompareDistributions("latency", cand, base, latencyBounds, c)
	}
}

func BenchmarkMomentsAdd(b *testing.B) {
	var m Moments
	x := 0.0
	b.ReportAllocs()
	for b.Loop() {
		x += 0.5
		m.Add(x)
	}
	sink.Candidate = m.Mean
}

func BenchmarkQuantile(b *testing.B) {
	base := []int64{220, 1600, 6000, 14000, 18000, 17000, 14000, 12000, 8000, 5000, 2400, 1000, 400, 200, 100, 50, 30}
	b.ReportAllocs()
	for b.Loop() {
		sink.Baseline = Quantile(latencyBounds, base, 0.99)
	}
}
