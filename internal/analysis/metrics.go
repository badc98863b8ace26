package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Pre-deployment gate metrics: scores of a candidate on a holdout file,
// computed once before it gets traffic. Each matches scikit-learn (and, for
// the fairness metrics, fairlearn's definitions) on the reference vectors
// in testdata/metrics.json. Labels are 0/1 for the binary metrics; every
// function returns an error naming the argument when the input cannot be
// scored, never NaN.

func sameLen(what string, a, b int) error {
	if a != b {
		return fmt.Errorf("%s: %d values vs %d", what, a, b)
	}
	if a == 0 {
		return fmt.Errorf("%s: no values", what)
	}
	return nil
}

func checkBinary(field string, y []int) error {
	for i, v := range y {
		if v != 0 && v != 1 {
			return fmt.Errorf("%s[%d]: must be 0 or 1, got %d", field, i, v)
		}
	}
	return nil
}

func checkFinite(field string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s[%d]: must be finite, got %v", field, i, v)
		}
	}
	return nil
}

// Accuracy is the share of predictions equal to the true label
// (sklearn.metrics.accuracy_score); labels may be any class ids.
func Accuracy(yTrue, yPred []int) (float64, error) {
	if err := sameLen("yTrue and yPred", len(yTrue), len(yPred)); err != nil {
		return 0, err
	}
	ok := 0
	for i := range yTrue {
		if yTrue[i] == yPred[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(yTrue)), nil
}

// ROCAUC is the area under the ROC curve of scores for 0/1 labels
// (sklearn.metrics.roc_auc_score): the Mann-Whitney probability that a
// random positive scores above a random negative, ties counting one half.
func ROCAUC(yTrue []int, scores []float64) (float64, error) {
	if err := sameLen("yTrue and scores", len(yTrue), len(scores)); err != nil {
		return 0, err
	}
	if err := checkBinary("yTrue", yTrue); err != nil {
		return 0, err
	}
	if err := checkFinite("scores", scores); err != nil {
		return 0, err
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg int
	var rankSumPos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if yTrue[idx[k]] == 1 {
				rankSumPos += avg
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, errors.New("yTrue: ROC AUC needs both classes present")
	}
	fp, fn := float64(pos), float64(neg)
	return (rankSumPos - fp*(fp+1)/2) / (fp * fn), nil
}

// RMSE is the root mean squared error
// (sqrt of sklearn.metrics.mean_squared_error).
func RMSE(yTrue, yPred []float64) (float64, error) {
	if err := sameLen("yTrue and yPred", len(yTrue), len(yPred)); err != nil {
		return 0, err
	}
	if err := checkFinite("yTrue", yTrue); err != nil {
		return 0, err
	}
	if err := checkFinite("yPred", yPred); err != nil {
		return 0, err
	}
	var s float64
	for i := range yTrue {
		d := yTrue[i] - yPred[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(yTrue))), nil
}

// logLossEps is scikit-learn's clipping of probabilities (eps="auto", the
// float64 machine epsilon).
const logLossEps = 2.220446049250313e-16

// LogLoss is the mean binary cross-entropy of predicted probabilities of
// class 1 (sklearn.metrics.log_loss), probabilities clipped to
// [eps, 1−eps].
func LogLoss(yTrue []int, prob []float64) (float64, error) {
	if err := sameLen("yTrue and prob", len(yTrue), len(prob)); err != nil {
		return 0, err
	}
	if err := checkBinary("yTrue", yTrue); err != nil {
		return 0, err
	}
	var s float64
	for i, p := range prob {
		if !(p >= 0 && p <= 1) {
			return 0, fmt.Errorf("prob[%d]: must be in [0, 1], got %v", i, p)
		}
		p = math.Min(math.Max(p, logLossEps), 1-logLossEps)
		if yTrue[i] == 1 {
			s -= math.Log(p)
		} else {
			s -= math.Log1p(-p)
		}
	}
	return s / float64(len(yTrue)), nil
}

// GroupRate is one group's rate in a fairness metric.
type GroupRate struct {
	Group string `json:"group"`
	// Size is the number of rows the rate is computed over: all rows of
	// the group for selection rates, its true positives' rows (label 1)
	// for true-positive rates.
	Size int     `json:"size"`
	Rate float64 `json:"rate"`
}

// GroupMetric is a fairness metric with the per-group rates behind it,
// sorted by group name.
type GroupMetric struct {
	Value  float64     `json:"value"`
	Groups []GroupRate `json:"groups"`
}

// groupRates computes, per group, the share of rows with pred 1 among the
// rows selected by keep.
func groupRates(yPred []int, groups []string, keep func(i int) bool) ([]GroupRate, error) {
	if err := sameLen("yPred and groups", len(yPred), len(groups)); err != nil {
		return nil, err
	}
	if err := checkBinary("yPred", yPred); err != nil {
		return nil, err
	}
	type acc struct{ n, sel int }
	by := map[string]*acc{}
	var all []string
	for i, g := range groups {
		a := by[g]
		if a == nil {
			a = &acc{}
			by[g] = a
			all = append(all, g)
		}
		if keep != nil && !keep(i) {
			continue
		}
		a.n++
		a.sel += yPred[i]
	}
	sort.Strings(all)
	out := make([]GroupRate, 0, len(all))
	for _, g := range all {
		a := by[g]
		if a.n == 0 {
			return nil, fmt.Errorf("groups: group %q has no rows with a positive label, so its true-positive rate is undefined", g)
		}
		out = append(out, GroupRate{Group: g, Size: a.n, Rate: float64(a.sel) / float64(a.n)})
	}
	return out, nil
}

func spread(rates []GroupRate) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rates {
		lo = math.Min(lo, r.Rate)
		hi = math.Max(hi, r.Rate)
	}
	return lo, hi
}

// DemographicParityDifference is the largest minus the smallest selection
// rate (share of predictions equal to 1) across groups
// (fairlearn.metrics.demographic_parity_difference); 0 is parity.
func DemographicParityDifference(yPred []int, groups []string) (GroupMetric, error) {
	rates, err := groupRates(yPred, groups, nil)
	if err != nil {
		return GroupMetric{}, err
	}
	lo, hi := spread(rates)
	return GroupMetric{Value: hi - lo, Groups: rates}, nil
}

// EqualOpportunityDifference is the largest minus the smallest true-positive
// rate (recall) across groups (fairlearn's equal_opportunity_difference);
// every group needs at least one row with label 1.
func EqualOpportunityDifference(yTrue, yPred []int, groups []string) (GroupMetric, error) {
	if err := sameLen("yTrue and yPred", len(yTrue), len(yPred)); err != nil {
		return GroupMetric{}, err
	}
	if err := checkBinary("yTrue", yTrue); err != nil {
		return GroupMetric{}, err
	}
	rates, err := groupRates(yPred, groups, func(i int) bool { return yTrue[i] == 1 })
	if err != nil {
		return GroupMetric{}, err
	}
	lo, hi := spread(rates)
	return GroupMetric{Value: hi - lo, Groups: rates}, nil
}

// DisparateImpactRatio is the smallest over the largest selection rate
// across groups (fairlearn.metrics.demographic_parity_ratio; the "80% rule"
// asks for >= 0.8). It is an error when no group is ever selected.
func DisparateImpactRatio(yPred []int, groups []string) (GroupMetric, error) {
	rates, err := groupRates(yPred, groups, nil)
	if err != nil {
		return GroupMetric{}, err
	}
	lo, hi := spread(rates)
	if hi == 0 {
		return GroupMetric{Groups: rates}, errors.New("yPred: no group has any positive prediction, so the ratio is undefined")
	}
	return GroupMetric{Value: lo / hi, Groups: rates}, nil
}

// GroupCount is one group's counts from live traffic, the aggregated form
// of the per-row arrays the fairness functions above take.
type GroupCount struct {
	Group string `json:"group"`
	// Rows predicted and how many were predicted 1 (selected).
	Rows     int64 `json:"rows"`
	Selected int64 `json:"selected"`
	// Positives are labelled rows with label 1; TruePositives those of them
	// predicted 1.
	Positives     int64 `json:"positives"`
	TruePositives int64 `json:"true_positives"`
}

// Fairness holds the fairness metrics of counted groups; a metric that is
// undefined (fewer than two groups with rows, no positive prediction, a
// group without positive labels) is nil, with the reason in Notes.
type Fairness struct {
	DemographicParityDifference *GroupMetric `json:"demographic_parity_difference,omitempty"`
	DisparateImpactRatio        *GroupMetric `json:"disparate_impact_ratio,omitempty"`
	EqualOpportunityDifference  *GroupMetric `json:"equal_opportunity_difference,omitempty"`
	Notes                       []string     `json:"notes,omitempty"`
}

// FairnessOf computes, from counts, the same values as
// DemographicParityDifference, DisparateImpactRatio and
// EqualOpportunityDifference on the rows behind them. Groups without rows
// are left out of the selection rates.
func FairnessOf(groups []GroupCount) Fairness {
	var f Fairness
	gs := slices.Clone(groups)
	sort.Slice(gs, func(i, j int) bool { return gs[i].Group < gs[j].Group })
	var sel, tpr []GroupRate
	tprOK := true
	for _, g := range gs {
		if g.Rows > 0 {
			sel = append(sel, GroupRate{Group: g.Group, Size: int(g.Rows), Rate: float64(g.Selected) / float64(g.Rows)})
		}
		if g.Positives > 0 {
			tpr = append(tpr, GroupRate{Group: g.Group, Size: int(g.Positives), Rate: float64(g.TruePositives) / float64(g.Positives)})
		} else if g.Rows > 0 {
			tprOK = false
		}
	}
	if len(sel) < 2 {
		f.Notes = append(f.Notes, "fewer than two groups have predictions")
		return f
	}
	lo, hi := spread(sel)
	f.DemographicParityDifference = &GroupMetric{Value: hi - lo, Groups: sel}
	if hi > 0 {
		f.DisparateImpactRatio = &GroupMetric{Value: lo / hi, Groups: sel}
	} else {
		f.Notes = append(f.Notes, "disparate impact ratio: no group has a positive prediction")
	}
	switch {
	case len(tpr) == 0:
		f.Notes = append(f.Notes, "equal opportunity difference: no labels with a positive class yet")
	case !tprOK || len(tpr) < 2:
		f.Notes = append(f.Notes, "equal opportunity difference: a group has no labelled positives yet")
	default:
		lo, hi := spread(tpr)
		f.EqualOpportunityDifference = &GroupMetric{Value: hi - lo, Groups: tpr}
	}
	return f
}
