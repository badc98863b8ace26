package analysis

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type metricsCase struct {
	Name            string    `json:"name"`
	YTrue           []int     `json:"y_true"`
	Score           []float64 `json:"score"`
	YPred           []int     `json:"y_pred"`
	Groups          []string  `json:"groups"`
	YReg            []float64 `json:"y_reg"`
	YRegPred        []float64 `json:"y_reg_pred"`
	Accuracy        float64   `json:"accuracy"`
	ROCAUC          float64   `json:"roc_auc"`
	LogLoss         float64   `json:"log_loss"`
	RMSE            float64   `json:"rmse"`
	GroupNames      []string  `json:"group_names"`
	SelectionRates  []float64 `json:"selection_rates"`
	GroupSizes      []int     `json:"group_sizes"`
	TPR             []float64 `json:"tpr"`
	PositiveSizes   []int     `json:"positive_sizes"`
	DemographicDiff float64   `json:"demographic_parity_difference"`
	EqualOppDiff    float64   `json:"equal_opportunity_difference"`
	DisparateImpact float64   `json:"disparate_impact_ratio"`
}

// TestMetricsMatchReference compares every gate metric with scikit-learn /
// fairlearn-definition values from testdata/gen_metrics.py.
func TestMetricsMatchReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Generator string        `json:"generator"`
		Cases     []metricsCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no reference cases")
	}
	const tol = 1e-9
	near := func(t *testing.T, what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.15g, want %.15g (%s)", what, got, want, ref.Generator)
		}
	}
	checkGroups := func(t *testing.T, what string, gm GroupMetric, names []string, rates []float64, sizes []int) {
		t.Helper()
		if len(gm.Groups) != len(names) {
			t.Fatalf("%s: %d groups, want %d", what, len(gm.Groups), len(names))
		}
		for i, g := range gm.Groups {
			if g.Group != names[i] || g.Size != sizes[i] {
				t.Errorf("%s group %d = %s (size %d), want %s (size %d)", what, i, g.Group, g.Size, names[i], sizes[i])
			}
			near(t, what+" rate of "+g.Group, g.Rate, rates[i])
		}
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Accuracy(c.YTrue, c.YPred)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "Accuracy", got, c.Accuracy)
			if got, err = ROCAUC(c.YTrue, c.Score); err != nil {
				t.Fatal(err)
			}
			near(t, "ROCAUC", got, c.ROCAUC)
			if got, err = LogLoss(c.YTrue, c.Score); err != nil {
				t.Fatal(err)
			}
			near(t, "LogLoss", got, c.LogLoss)
			if got, err = RMSE(c.YReg, c.YRegPred); err != nil {
				t.Fatal(err)
			}
			near(t, "RMSE", got, c.RMSE)

			dp, err := DemographicParityDifference(c.YPred, c.Groups)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "DemographicParityDifference", dp.Value, c.DemographicDiff)
			checkGroups(t, "DemographicParityDifference", dp, c.GroupNames, c.SelectionRates, c.GroupSizes)
			eo, err := EqualOpportunityDifference(c.YTrue, c.YPred, c.Groups)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "EqualOpportunityDifference", eo.Value, c.EqualOppDiff)
			checkGroups(t, "EqualOpportunityDifference", eo, c.GroupNames, c.TPR, c.PositiveSizes)
			di, err := DisparateImpactRatio(c.YPred, c.Groups)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "DisparateImpactRatio", di.Value, c.DisparateImpact)
		})
	}
}

func TestMetricsRejectBadInput(t *testing.T) {
	cases := []struct {
		name string
		err  func() error
	}{
		{"accuracy length mismatch", func() error { _, err := Accuracy([]int{1, 0}, []int{1}); return err }},
		{"accuracy empty", func() error { _, err := Accuracy(nil, nil); return err }},
		{"auc one class", func() error { _, err := ROCAUC([]int{1, 1}, []float64{0.2, 0.3}); return err }},
		{"auc non-binary label", func() error { _, err := ROCAUC([]int{0, 2}, []float64{0.2, 0.3}); return err }},
		{"auc NaN score", func() error { _, err := ROCAUC([]int{0, 1}, []float64{math.NaN(), 0.3}); return err }},
		{"rmse Inf", func() error { _, err := RMSE([]float64{1}, []float64{math.Inf(1)}); return err }},
		{"logloss prob > 1", func() error { _, err := LogLoss([]int{1}, []float64{1.5}); return err }},
		{"parity groups length", func() error { _, err := DemographicParityDifference([]int{1, 0}, []string{"a"}); return err }},
		{"equal opportunity group without positives", func() error {
			_, err := EqualOpportunityDifference([]int{1, 0}, []int{1, 1}, []string{"a", "b"})
			return err
		}},
		{"disparate impact nobody selected", func() error { _, err := DisparateImpactRatio([]int{0, 0}, []string{"a", "b"}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.err(); err == nil {
				t.Error("got nil error, want one")
			} else {
				t.Log(err)
			}
		})
	}
}
