package drift

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Thresholds decide when a feature counts as drifted: when any enabled test
// crosses its threshold, and the current data has at least MinCount values
// of the feature. A zero field takes its default; a negative one disables
// that test.
type Thresholds struct {
	// PSI flags drift when PSI > PSI. Default 0.2, the usual "significant
	// shift" level (0.1-0.2 is commonly read as moderate).
	PSI float64 `json:"psi,omitempty"`
	// KSPValue flags drift when the Kolmogorov-Smirnov p-value < KSPValue.
	// Default 0.01.
	KSPValue float64 `json:"ks_pvalue,omitempty"`
	// Chi2PValue flags drift when the chi-square p-value < Chi2PValue.
	// Default 0.01.
	Chi2PValue float64 `json:"chi2_pvalue,omitempty"`
	// JS flags drift when the Jensen-Shannon distance (base 2) > JS.
	// Default 0.2: for small shifts JS^2 is about PSI/(8 ln 2) on the same
	// bins, so 0.2 flags about where PSI 0.2 does. Evidently's 0.1 flags
	// about where PSI 0.055 would.
	JS float64 `json:"js,omitempty"`
	// MinCount is the fewest current values of a feature for which it can
	// be flagged; fewer make PSI and JS too noisy. Default 100.
	MinCount int64 `json:"min_count,omitempty"`
}

// DefaultThresholds returns the thresholds a zero Thresholds stands for.
func DefaultThresholds() Thresholds {
	return Thresholds{PSI: 0.2, KSPValue: 0.01, Chi2PValue: 0.01, JS: 0.2, MinCount: 100}
}

func (t Thresholds) withDefaults() Thresholds {
	def := DefaultThresholds()
	pick := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	t.PSI = pick(t.PSI, def.PSI)
	t.KSPValue = pick(t.KSPValue, def.KSPValue)
	t.Chi2PValue = pick(t.Chi2PValue, def.Chi2PValue)
	t.JS = pick(t.JS, def.JS)
	if t.MinCount == 0 {
		t.MinCount = def.MinCount
	}
	return t
}

// Report compares current data with a baseline, feature by feature.
type Report struct {
	// Rows is the number of current rows compared.
	Rows int64 `json:"rows"`
	// BaselineRows is the number of rows the baseline summarises.
	BaselineRows int64 `json:"baseline_rows"`
	// Exact is true for an offline comparison of two full samples, whose
	// Kolmogorov-Smirnov results are exact; false for a live window, whose
	// KS statistic is bounded by the baseline's grid (see FeatureReport).
	Exact bool `json:"exact"`
	// Start and End are the times of the first and last row in a live
	// window; zero offline.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Drifted is true when any feature or the prediction drifted.
	Drifted bool `json:"drifted"`
	// Features has one entry per baseline feature, worst first: drifted
	// before not drifted, then by decreasing PSI, then by name.
	Features []FeatureReport `json:"features"`
	// Prediction compares the model's outputs, when the baseline has them.
	Prediction *FeatureReport `json:"prediction,omitempty"`
}

// FeatureReport is the comparison of one feature. A statistic that does not
// apply to the feature's kind, or that cannot be computed because one side
// has no values, is nil.
type FeatureReport struct {
	// Feature is the feature's name.
	Feature string `json:"feature"`
	// Kind of the feature.
	Kind Kind `json:"kind"`
	// Count is the number of current values present.
	Count int64 `json:"count"`
	// MissingRate is the share of current rows missing the feature, and
	// BaselineMissingRate the baseline's.
	MissingRate         float64 `json:"missing_rate"`
	BaselineMissingRate float64 `json:"baseline_missing_rate"`
	// PSI is the population stability index on the baseline's deciles
	// (numeric) or its top categories and "other" (categorical), with
	// empty bins counted as PSIEpsilon.
	PSI *float64 `json:"psi,omitempty"`
	// KSStatistic is the two-sample Kolmogorov-Smirnov D (numeric). In an
	// exact report it is ks_2samp's; in a live one it is the largest ECDF
	// gap at the baseline's grid edges, a lower bound of the exact D.
	KSStatistic *float64 `json:"ks_statistic,omitempty"`
	// KSStatisticMax is, in a live report, an upper bound of the exact D
	// (ks_2samp of the training values and the window's values):
	//
	//	KSStatistic <= D <= KSStatisticMax <= KSStatistic + max_i min(b_i, c_i)
	//
	// with b_i and c_i the baseline's and the window's shares of grid bin
	// i. Without repeated training values b_i is about 1/GridBins, so the
	// gap is at most about 0.01 with the default grid.
	KSStatisticMax *float64 `json:"ks_statistic_max,omitempty"`
	// KSPValue is the KS p-value of KSStatistic. Live, D is underestimated,
	// so the p-value is never below the one of the exact D.
	KSPValue *float64 `json:"ks_pvalue,omitempty"`
	// Chi2 and Chi2PValue are Pearson's goodness-of-fit test of the current
	// counts against the baseline's proportions (categorical).
	Chi2       *float64 `json:"chi2,omitempty"`
	Chi2PValue *float64 `json:"chi2_pvalue,omitempty"`
	// JS is the Jensen-Shannon distance, base 2, on the PSI bins.
	JS *float64 `json:"js,omitempty"`
	// Drifted is true when a threshold was crossed with enough values.
	Drifted bool `json:"drifted"`
	// Reasons names each crossed threshold, e.g. "psi 0.31 > 0.2".
	Reasons []string `json:"reasons,omitempty"`
}

// liveMaxExactWork bounds n1*n2 for the exact KS p-value of a live report
// with unequal sizes; beyond it the asymptotic distribution is used, so a
// report stays cheap (the exact inside method costs up to ~2*D*n1*n2).
const liveMaxExactWork = 4e6

// binner maps one baseline distribution's values to bins and turns bin
// counts into a FeatureReport. Bins 0..nbins-1 are the grid bins (numeric)
// or the categories then "other" (categorical); bin nbins counts missing
// values.
type binner struct {
	d     *Dist
	nbins int
	base  []int64 // baseline counts per bin, without missing

	// numeric
	edges []float64
	psiOf []int // grid bin -> PSI bin
	npsi  int

	// categorical
	labels map[string]int
	codes  map[float64]int
}

func newBinner(d *Dist) *binner {
	bn := &binner{d: d}
	if d.Kind == Numeric {
		nd := d.Numeric
		bn.edges = nd.Edges
		bn.nbins = len(nd.Edges) + 1
		bn.base = nd.Counts
		psi := nd.psiEdges()
		bn.npsi = len(psi) + 1
		bn.psiOf = make([]int, bn.nbins)
		for i := range bn.psiOf {
			if i < len(nd.Edges) {
				bn.psiOf[i] = binOf(psi, nd.Edges[i])
			} else {
				bn.psiOf[i] = len(psi)
			}
		}
		return bn
	}
	cd := d.Categorical
	bn.nbins = len(cd.Categories) + 1
	bn.labels = make(map[string]int, len(cd.Categories))
	bn.codes = map[float64]int{}
	bn.base = make([]int64, bn.nbins)
	for i, c := range cd.Categories {
		bn.labels[c.Label] = i
		bn.base[i] = c.Count
		if v, err := strconv.ParseFloat(c.Label, 64); err == nil && codeLabel(v) == c.Label {
			bn.codes[v] = i
		}
	}
	bn.base[len(cd.Categories)] = cd.Other
	return bn
}

// numBin returns the bin of a numeric value.
func (bn *binner) numBin(v float64) int {
	if missingNum(v) {
		return bn.nbins
	}
	return binOf(bn.edges, v)
}

// labelBin returns the bin of a category label.
func (bn *binner) labelBin(l string) int {
	if l == "" {
		return bn.nbins
	}
	if i, ok := bn.labels[l]; ok {
		return i
	}
	return bn.nbins - 1
}

// codeBin returns the bin of a numeric category code.
func (bn *binner) codeBin(v float64) int {
	if math.IsNaN(v) {
		return bn.nbins
	}
	if i, ok := bn.codes[v]; ok {
		return i
	}
	return bn.nbins - 1
}

// report computes the statistics from the current counts per bin (nbins+1
// of them, missing last). exact, when not nil, is the KS result of the two
// full samples, used instead of the grid's bounds.
func (bn *binner) report(counts []int64, exact *KSResult, baseRows int64, th Thresholds) FeatureReport {
	cur := counts[:bn.nbins]
	fr := FeatureReport{Feature: bn.d.Name, Kind: bn.d.Kind}
	for _, c := range cur {
		fr.Count += c
	}
	if rows := fr.Count + counts[bn.nbins]; rows > 0 {
		fr.MissingRate = float64(counts[bn.nbins]) / float64(rows)
	}
	if baseRows > 0 {
		fr.BaselineMissingRate = float64(bn.d.Missing) / float64(baseRows)
	}
	if fr.Count == 0 || bn.d.Count == 0 {
		return fr
	}
	if bn.d.Kind == Numeric {
		bp, cp := make([]float64, bn.npsi), make([]float64, bn.npsi)
		for i := range cur {
			bp[bn.psiOf[i]] += float64(bn.base[i])
			cp[bn.psiOf[i]] += float64(cur[i])
		}
		fr.PSI = ptr(PSI(bp, cp))
		fr.JS = ptr(JSDistance(bp, cp))
		if exact != nil {
			fr.KSStatistic = ptr(exact.Statistic)
			fr.KSPValue = ptr(exact.PValue)
		} else {
			lower, upper, n1, n2 := ksBinned(bn.base, cur)
			r := ksTest(lower, int(n1), int(n2), liveMaxExactWork)
			fr.KSStatistic = ptr(lower)
			fr.KSStatisticMax = ptr(upper)
			fr.KSPValue = ptr(r.PValue)
		}
	} else {
		bp, cp := toFloats(bn.base), toFloats(cur)
		fr.PSI = ptr(PSI(bp, cp))
		fr.JS = ptr(JSDistance(bp, cp))
		if r, ok := chiSquareAgainst(bp, cp); ok {
			fr.Chi2 = ptr(r.Statistic)
			fr.Chi2PValue = ptr(r.PValue)
		}
	}
	fr.assess(th)
	return fr
}

// chiSquareAgainst tests current counts against the baseline's proportions.
// Bins empty on both sides are left out; a bin empty only in the baseline
// gets the proportion PSIEpsilon before the proportions are renormalised,
// so a new category gives a large, finite statistic. It reports false when
// fewer than two bins remain.
func chiSquareAgainst(base, cur []float64) (ChiSquareResult, bool) {
	nb, nc := sum(base), sum(cur)
	var obs, prop []float64
	for i := range base {
		if base[i] == 0 && cur[i] == 0 {
			continue
		}
		p := base[i] / nb
		if p == 0 {
			p = PSIEpsilon
		}
		obs = append(obs, cur[i])
		prop = append(prop, p)
	}
	if len(obs) < 2 {
		return ChiSquareResult{}, false
	}
	sp := sum(prop)
	exp := make([]float64, len(prop))
	for i, p := range prop {
		exp[i] = p / sp * nc
	}
	r, err := ChiSquare(obs, exp)
	return r, err == nil
}

// assess sets Drifted and Reasons.
func (fr *FeatureReport) assess(th Thresholds) {
	if th.MinCount > 0 && fr.Count < th.MinCount {
		return
	}
	above := func(name string, v *float64, limit float64) {
		if v != nil && limit > 0 && *v > limit {
			fr.Reasons = append(fr.Reasons, fmt.Sprintf("%s %.4g > %g", name, *v, limit))
		}
	}
	below := func(name string, v *float64, limit float64) {
		if v != nil && limit > 0 && *v < limit {
			fr.Reasons = append(fr.Reasons, fmt.Sprintf("%s %.4g < %g", name, *v, limit))
		}
	}
	above("psi", fr.PSI, th.PSI)
	below("ks_pvalue", fr.KSPValue, th.KSPValue)
	below("chi2_pvalue", fr.Chi2PValue, th.Chi2PValue)
	above("js", fr.JS, th.JS)
	fr.Drifted = len(fr.Reasons) > 0
}

// finish orders the features worst first and sets the report's Drifted.
func (r *Report) finish() {
	slices.SortStableFunc(r.Features, func(a, b FeatureReport) int {
		if a.Drifted != b.Drifted {
			if a.Drifted {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(deref(b.PSI), deref(a.PSI)); c != 0 {
			return c
		}
		return cmp.Compare(a.Feature, b.Feature)
	})
	r.Drifted = r.Prediction != nil && r.Prediction.Drifted
	for _, f := range r.Features {
		r.Drifted = r.Drifted || f.Drifted
	}
}

func ptr(v float64) *float64 { return &v }

// deref returns *p, or -1 (below any PSI) for nil.
func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func toFloats(xs []int64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}
