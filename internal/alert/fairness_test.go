package alert

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/monitor"
)

// TestLiveFairnessMatchesReferences sends the rows of the analysis
// package's reference cases (scikit-learn and fairlearn definitions,
// internal/analysis/testdata/gen_metrics.py) through the live fairness
// counts, three rows per request with per-row groups, joins their labels,
// and checks the metrics computed from the counts.
func TestLiveFairnessMatchesReferences(t *testing.T) {
	data, err := os.ReadFile("../analysis/testdata/metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name    string    `json:"name"`
			YTrue   []float64 `json:"y_true"`
			Score   []float64 `json:"score"`
			Groups  []string  `json:"groups"`
			Names   []string  `json:"group_names"`
			Sizes   []int     `json:"group_sizes"`
			PosSize []int     `json:"positive_sizes"`
			DP      float64   `json:"demographic_parity_difference"`
			EO      float64   `json:"equal_opportunity_difference"`
			DI      float64   `json:"disparate_impact_ratio"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no reference cases")
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			f := monitor.NewFairness()
			for start := 0; start < len(c.YTrue); start += 3 {
				end := min(start+3, len(c.YTrue))
				p := monitor.Prediction{Version: 1, Width: 1, Values: c.Score[start:end]}
				f.Observe("ep", p, c.Groups[start:end])
				f.Join(monitor.Request{Endpoint: "ep", Answer: p, Groups: c.Groups[start:end]}, c.YTrue[start:end])
			}
			vs := f.Versions("ep")
			if len(vs) != 1 {
				t.Fatalf("versions: %+v", vs)
			}
			got := analysis.FairnessOf(GroupCounts(vs[0].Groups))
			if got.DemographicParityDifference == nil || got.DisparateImpactRatio == nil || got.EqualOpportunityDifference == nil {
				t.Fatalf("missing metrics: %+v", got)
			}
			for _, m := range []struct {
				name      string
				got, want float64
			}{
				{"demographic_parity_difference", got.DemographicParityDifference.Value, c.DP},
				{"disparate_impact_ratio", got.DisparateImpactRatio.Value, c.DI},
				{"equal_opportunity_difference", got.EqualOpportunityDifference.Value, c.EO},
			} {
				if math.Abs(m.got-m.want) > 1e-12 {
					t.Errorf("%s: got %.15g, want %.15g", m.name, m.got, m.want)
				}
			}
			for i, g := range got.DemographicParityDifference.Groups {
				if g.Group != c.Names[i] || g.Size != c.Sizes[i] {
					t.Errorf("group %d: got %s size %d, want %s size %d", i, g.Group, g.Size, c.Names[i], c.Sizes[i])
				}
			}
			for i, g := range got.EqualOpportunityDifference.Groups {
				if g.Size != c.PosSize[i] {
					t.Errorf("group %s positives: got %d, want %d", g.Group, g.Size, c.PosSize[i])
				}
			}
		})
	}
}

// TestFairnessOfEdgeCases: undefined metrics are left out with a note,
// never NaN.
func TestFairnessOfEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		groups     []analysis.GroupCount
		dp, di, eo bool
		notes      int
	}{
		{"one group", []analysis.GroupCount{{Group: "a", Rows: 10, Selected: 3}}, false, false, false, 1},
		{"nobody selected", []analysis.GroupCount{{Group: "a", Rows: 10}, {Group: "b", Rows: 5}}, true, false, false, 2},
		{"no labels", []analysis.GroupCount{{Group: "a", Rows: 10, Selected: 2}, {Group: "b", Rows: 5, Selected: 1}}, true, true, false, 1},
		{"a group without positives", []analysis.GroupCount{{Group: "a", Rows: 10, Selected: 2, Positives: 3, TruePositives: 1}, {Group: "b", Rows: 5, Selected: 1}}, true, true, false, 1},
		{"all defined", []analysis.GroupCount{{Group: "a", Rows: 10, Selected: 2, Positives: 3, TruePositives: 1}, {Group: "b", Rows: 5, Selected: 1, Positives: 2, TruePositives: 2}}, true, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := analysis.FairnessOf(tt.groups)
			if (f.DemographicParityDifference != nil) != tt.dp || (f.DisparateImpactRatio != nil) != tt.di || (f.EqualOpportunityDifference != nil) != tt.eo || len(f.Notes) != tt.notes {
				t.Errorf("got %+v, want dp %v di %v eo %v with %d notes", f, tt.dp, tt.di, tt.eo, tt.notes)
			}
			if _, err := json.Marshal(f); err != nil {
				t.Errorf("encoding: %v", err)
			}
		})
	}
}
