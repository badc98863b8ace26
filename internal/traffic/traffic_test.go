package traffic

import (
	"math/rand/v2"
	"testing"
)

func TestNewPlanErrors(t *testing.T) {
	tests := []struct {
		name   string
		splits []Split
	}{
		{"empty", nil},
		{"zero version", []Split{{Version: 0, Weight: 1}}},
		{"duplicate", []Split{{1, 1}, {1, 2}}},
		{"negative weight", []Split{{1, -1}}},
		{"all zero", []Split{{1, 0}, {2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPlan(tt.splits); err == nil {
				t.Errorf("NewPlan(%v) = nil error, want an error", tt.splits)
			}
		})
	}
}

func TestPickShares(t *testing.T) {
	tests := []struct {
		splits []Split
	}{
		{[]Split{{1, 100}}},
		{[]Split{{1, 95}, {2, 5}}},
		{[]Split{{1, 1}, {2, 1}, {3, 2}}},
		{[]Split{{1, 0}, {2, 7}}},
	}
	for _, tt := range tests {
		p, err := NewPlan(tt.splits)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200000
		r := rand.New(rand.NewPCG(1, 2))
		counts := map[int]int{}
		for i := 0; i < n; i++ {
			counts[p.Pick(r.Uint64())]++
		}
		var total int
		for _, s := range tt.splits {
			total += s.Weight
		}
		for _, s := range tt.splits {
			want := float64(s.Weight) / float64(total)
			got := float64(counts[s.Version]) / n
			// 5 standard deviations of a binomial proportion.
			if d := got - want; d*d > 25*want*(1-want)/n+1e-12 {
				t.Errorf("%v: version %d share = %.4f, want %.4f", tt.splits, s.Version, got, want)
			}
		}
	}
}

func BenchmarkPick(b *testing.B) {
	p, _ := NewPlan([]Split{{1, 90}, {2, 5}, {3, 5}})
	var u uint64
	for i := 0; i < b.N; i++ {
		u += 0x9E3779B97F4A7C15
		_ = p.Pick(u)
	}
}
