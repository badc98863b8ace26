package drift

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenSample is small and fixed, so its baseline can be read by eye.
func goldenSample() Sample {
	x := make([]float64, 0, 22)
	for i := range 20 {
		x = append(x, float64(i*i)/10)
	}
	x = append(x, math.NaN(), math.Inf(1))
	return Sample{
		Columns: []Column{
			{Name: "x", Kind: Numeric, Num: x},
			{Name: "color", Kind: Categorical, Cat: strings.Split("r,g,b,r,r,g,,r,b,k,r,g,w,r,g,b,r,g,b,r,y,", ",")},
			{Name: "plan", Kind: Categorical, Num: []float64{0, 1, 2, 1, 0, 0, 0, 1, 2, 3, 0, 1, 0, 0, 2, 1, 0, 0, 1, math.NaN(), 0, 1}},
		},
		Prediction: &Column{Name: "score", Kind: Numeric, Num: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .1, .2, .3, .4, .5, .6, .7, .8, .9, .5, .5, .5, .5}},
	}
}

func TestBaselineGolden(t *testing.T) {
	b, err := BuildBaseline(goldenSample(), BaselineOptions{GridBins: 20, TopK: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const path = "testdata/baseline.golden"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("baseline JSON differs from %s (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
	// What the golden file shows, checked by hand.
	x := b.Features[0]
	if x.Count != 20 || x.Missing != 2 || x.Numeric.Min != 0 || x.Numeric.Max != 36.1 {
		t.Errorf("x: %+v %+v", x, x.Numeric)
	}
	color := b.Features[1].Categorical
	if color.Categories[0] != (Category{"r", 8}) || color.Other != 2 || b.Features[1].Missing != 2 {
		t.Errorf("color: %+v, missing %d", color, b.Features[1].Missing)
	}
	if plan := b.Features[2].Categorical; plan.Categories[0] != (Category{"0", 10}) || b.Features[2].Missing != 1 {
		t.Errorf("plan: %+v", plan)
	}

	back, err := ParseBaseline(want)
	if err != nil {
		t.Fatalf("ParseBaseline(golden): %v", err)
	}
	if diff := cmp.Diff(b, back); diff != "" {
		t.Errorf("JSON round trip (-built +parsed):\n%s", diff)
	}
}

func TestParseBaselineErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/baseline.golden")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"unknown field", `"rows": 22`, `"rows": 22, "rowz": 1`, []string{`unknown field "rowz"`}},
		{"version", `"version": 1`, `"version": 2`, []string{"version: 2: this build reads version 1"}},
		{"rows", `"rows": 22`, `"rows": 21`, []string{
			"features[0]: count 20 + missing 2: must be non-negative and add up to rows 21",
			"prediction: count 22 + missing 0",
		}},
		{"kind", `"kind": "numeric"`, `"kind": "ordinal"`, []string{`features[0].kind: "ordinal"`}},
		{"edges", `"edges": [`, `"edges": [1e9, `, []string{
			"features[0].numeric.edges[1]",
			"features[0].numeric.counts: 20 values, want len(edges)+1 = 21",
		}},
		{"duplicate", `"name": "color"`, `"name": "x"`, []string{`features[1].name: "x": duplicate`}},
		{"label", `"label": "g"`, `"label": "r"`, []string{`features[1].categorical.categories[1].label: "r": duplicate`}},
		{"trailing", "", "{}", []string{"data after the JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := string(good) + tt.to
			if tt.from != "" {
				bad = strings.Replace(string(good), tt.from, tt.to, 1)
			}
			if bad == string(good) {
				t.Fatalf("%q not found in the golden file", tt.from)
			}
			_, err := ParseBaseline([]byte(bad))
			if err == nil {
				t.Fatal("ParseBaseline succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestBuildBaselineErrors(t *testing.T) {
	tests := []struct {
		name string
		s    Sample
		opts BaselineOptions
		want []string
	}{
		{"empty", Sample{}, BaselineOptions{}, []string{"columns: at least one column is needed"}},
		{"lengths and names", Sample{Columns: []Column{
			{Name: "a", Kind: Numeric, Num: []float64{1, 2}},
			{Name: "a", Kind: Numeric, Num: []float64{1}},
			{Name: "", Kind: "text", Cat: []string{"x"}},
		}}, BaselineOptions{}, []string{
			`columns[1].name: "a": duplicate`,
			`columns[1]: feature "a" has 1 values, want 2`,
			"columns[2].name: must not be empty",
			`columns[2].kind: "text"`,
		}},
		{"options", Sample{Columns: []Column{{Name: "a", Kind: Numeric, Num: []float64{1}}}},
			BaselineOptions{GridBins: 15, TopK: -1}, []string{"grid_bins: 15", "top_k: -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildBaseline(tt.s, tt.opts)
			if err == nil {
				t.Fatal("BuildBaseline succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	base := Sample{Columns: []Column{
		{Name: "a", Kind: Numeric, Num: []float64{1, 2, 3}},
		{Name: "b", Kind: Categorical, Cat: []string{"x", "y", "x"}},
	}}
	cur := Sample{Columns: []Column{{Name: "b", Kind: Numeric, Num: []float64{1}}}}
	_, err := Compare(base, cur, Options{})
	if err == nil {
		t.Fatal("Compare succeeded, want an error")
	}
	for _, w := range []string{`feature "a" is missing`, `feature "b" is numeric, the baseline's is categorical`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}

func TestCompareEdgeCases(t *testing.T) {
	base := Sample{Columns: []Column{
		{Name: "a", Kind: Numeric, Num: []float64{1, 2, 3, 4, 5}},
		{Name: "gone", Kind: Numeric, Num: []float64{1, 2, 3, 4, 5}},
		{Name: "one", Kind: Categorical, Cat: []string{"x", "x", "x", "x", "x"}},
	}}
	cur := Sample{Columns: []Column{
		{Name: "a", Kind: Numeric, Num: []float64{1, 2, 3, 4, 5}},
		{Name: "gone", Kind: Numeric, Num: []float64{math.NaN(), math.Inf(-1), math.NaN(), math.Inf(1), math.NaN()}},
		{Name: "one", Kind: Categorical, Cat: []string{"x", "x", "x", "", "x"}},
		{Name: "extra", Kind: Numeric, Num: []float64{0, 0, 0, 0, 0}},
	}}
	r, err := Compare(base, cur, Options{Thresholds: Thresholds{MinCount: -1}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]FeatureReport{}
	for _, f := range r.Features {
		got[f.Feature] = f
	}
	if a := got["a"]; *a.PSI != 0 || *a.JS != 0 || *a.KSStatistic != 0 || *a.KSPValue != 1 || a.Drifted {
		t.Errorf("identical feature: %+v", a)
	}
	if g := got["gone"]; g.Count != 0 || g.MissingRate != 1 || g.PSI != nil || g.KSStatistic != nil || g.Drifted {
		t.Errorf("all-missing feature: %+v", g)
	}
	// One category on both sides: nothing to test with chi-square.
	if o := got["one"]; o.Chi2 != nil || *o.PSI != 0 || o.Drifted {
		t.Errorf("single-category feature: %+v", o)
	}
	if _, ok := got["extra"]; ok || r.Drifted {
		t.Errorf("report %+v: want no extra feature and no drift", r)
	}
}

func TestReportOrderAndThresholds(t *testing.T) {
	r := &Report{Features: []FeatureReport{
		{Feature: "b", PSI: ptr(0.05)},
		{Feature: "a", PSI: ptr(0.05)},
		{Feature: "c", PSI: ptr(0.15)},
		{Feature: "d", PSI: ptr(0.01), Drifted: true},
		{Feature: "e"},
	}}
	r.finish()
	var order []string
	for _, f := range r.Features {
		order = append(order, f.Feature)
	}
	if diff := cmp.Diff([]string{"d", "c", "a", "b", "e"}, order); diff != "" || !r.Drifted {
		t.Errorf("order (-want +got):\n%s drifted %v", diff, r.Drifted)
	}

	th := DefaultThresholds()
	tests := []struct {
		name string
		fr   FeatureReport
		th   Thresholds
		want []string
	}{
		{"quiet", FeatureReport{Count: 500, PSI: ptr(0.1), JS: ptr(0.05), KSPValue: ptr(0.5)}, th, nil},
		{"psi", FeatureReport{Count: 500, PSI: ptr(0.25)}, th, []string{"psi 0.25 > 0.2"}},
		{"all", FeatureReport{Count: 500, PSI: ptr(1), KSPValue: ptr(1e-5), Chi2PValue: ptr(0.001), JS: ptr(0.3)}, th,
			[]string{"psi 1 > 0.2", "ks_pvalue 1e-05 < 0.01", "chi2_pvalue 0.001 < 0.01", "js 0.3 > 0.2"}},
		{"too few", FeatureReport{Count: 99, PSI: ptr(1)}, th, nil},
		{"disabled", FeatureReport{Count: 500, PSI: ptr(1), KSPValue: ptr(0)}, Thresholds{PSI: -1, KSPValue: -1}.withDefaults(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fr.assess(tt.th)
			if diff := cmp.Diff(tt.want, tt.fr.Reasons); diff != "" || tt.fr.Drifted != (tt.want != nil) {
				t.Errorf("reasons (-want +got):\n%s drifted %v", diff, tt.fr.Drifted)
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	r, err := Compare(goldenSample(), goldenSample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Features []map[string]any `json:"features"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) map[string]bool {
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	for _, f := range back.Features {
		k := keys(f)
		num := f["kind"] == "numeric"
		if !k["feature"] || !k["psi"] || !k["js"] || k["ks_statistic"] != num || k["ks_pvalue"] != num ||
			k["chi2"] == num || k["chi2_pvalue"] == num || k["ks_statistic_max"] {
			t.Errorf("offline report fields for %v: %v", f["feature"], k)
		}
	}
}

func TestKSSmallCases(t *testing.T) {
	if _, err := KS2Samp(nil, []float64{1}); err == nil {
		t.Error("empty sample accepted")
	}
	if _, err := KS2Samp([]float64{1, math.NaN()}, []float64{1}); err == nil {
		t.Error("NaN accepted")
	}
	// p-values never increase with D, for exact and asymptotic sizes, and
	// the inside method stays in bounds for every lattice value.
	for _, n := range [][2]int{{1, 2}, {3, 7}, {13, 13}, {29, 31}, {64, 96}, {200, 3}, {12000, 30}} {
		g := gcd(n[0], n[1])
		lcm := n[0] / g * n[1]
		prev := 1.0
		for h := 0; h <= lcm; h += max(1, lcm/400) {
			r := ksTest(float64(h)/float64(lcm), n[0], n[1], 0)
			if !(r.PValue >= 0 && r.PValue <= 1) || r.PValue > prev+1e-12 {
				t.Fatalf("sizes %v, D=%d/%d: p %v after %v", n, h, lcm, r.PValue, prev)
			}
			prev = r.PValue
		}
	}
}

func TestChiSquareErrors(t *testing.T) {
	for _, c := range [][2][]float64{
		{{1, 2}, {1}},
		{{3}, {3}},
		{{1, 2}, {3, 0}},
		{{1, -1}, {0.5, -0.5}},
		{{1, 2}, {1, 3}},
	} {
		if _, err := ChiSquare(c[0], c[1]); err == nil {
			t.Errorf("ChiSquare(%v, %v) succeeded, want an error", c[0], c[1])
		}
	}
	if p := Chi2SF(1, 0); !math.IsNaN(p) {
		t.Errorf("Chi2SF with df 0 = %v, want NaN", p)
	}
}
