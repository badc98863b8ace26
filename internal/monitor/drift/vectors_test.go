package drift

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// The reference values in testdata/vectors.json come from SciPy 1.10.1 and
// NumPy 1.24 (testdata/gen.py); these tests need no Python.

// tol is the agreement the package promises with SciPy, absolute.
const tol = 1e-6

type vectors struct {
	Generator string `json:"generator"`
	KS2Samp   []struct {
		Name      string     `json:"name"`
		X         []*float64 `json:"x"`
		Y         []*float64 `json:"y"`
		Statistic float64    `json:"statistic"`
		PValue    float64    `json:"pvalue"`
	} `json:"ks_2samp"`
	KStwoSF []struct {
		N  int     `json:"n"`
		D  float64 `json:"d"`
		SF float64 `json:"sf"`
	} `json:"kstwo_sf"`
	Chi2SF []struct {
		DF float64 `json:"df"`
		X  float64 `json:"x"`
		SF float64 `json:"sf"`
	} `json:"chi2_sf"`
	ChiSquare []struct {
		Name      string     `json:"name"`
		Obs       []*float64 `json:"obs"`
		Exp       []*float64 `json:"exp"`
		Statistic float64    `json:"statistic"`
		PValue    float64    `json:"pvalue"`
	} `json:"chisquare"`
	JensenShannon []struct {
		P        []*float64 `json:"p"`
		Q        []*float64 `json:"q"`
		Distance float64    `json:"distance"`
	} `json:"jensenshannon"`
	PSI []struct {
		Expected []*float64 `json:"expected"`
		Actual   []*float64 `json:"actual"`
		PSI      float64    `json:"psi"`
	} `json:"psi"`
	Quantile []struct {
		X     []*float64 `json:"x"`
		Q     []*float64 `json:"q"`
		Value []*float64 `json:"value"`
	} `json:"quantile"`
	Compare []struct {
		Name       string       `json:"name"`
		Baseline   vectorSample `json:"baseline"`
		Current    vectorSample `json:"current"`
		Features   []refFeature `json:"features"`
		Prediction refFeature   `json:"prediction"`
	} `json:"compare"`
}

type vectorColumn struct {
	Name string     `json:"name"`
	Kind Kind       `json:"kind"`
	Num  []*float64 `json:"num"`
	Cat  []string   `json:"cat"`
}

func (c vectorColumn) column() Column {
	col := Column{Name: c.Name, Kind: c.Kind, Cat: c.Cat}
	if c.Num != nil {
		col.Num = floats(c.Num)
	}
	return col
}

type vectorSample struct {
	Columns    []vectorColumn `json:"columns"`
	Prediction vectorColumn   `json:"prediction"`
}

func (s vectorSample) sample() Sample {
	out := Sample{}
	for _, c := range s.Columns {
		out.Columns = append(out.Columns, c.column())
	}
	p := s.Prediction.column()
	out.Prediction = &p
	return out
}

type refFeature struct {
	Feature     string   `json:"feature"`
	Count       int64    `json:"count"`
	MissingRate float64  `json:"missing_rate"`
	PSI         float64  `json:"psi"`
	JS          float64  `json:"js"`
	KSStatistic *float64 `json:"ks_statistic"`
	KSPValue    *float64 `json:"ks_pvalue"`
	Chi2        *float64 `json:"chi2"`
	Chi2PValue  *float64 `json:"chi2_pvalue"`
}

// floats turns JSON numbers into float64s, null into NaN.
func floats(ps []*float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

func loadVectors(t *testing.T) *vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding testdata/vectors.json: %v", err)
	}
	return &v
}

// maxDiff tracks the largest absolute difference seen, for the log.
type maxDiff struct {
	abs  float64
	what string
}

func (m *maxDiff) check(t *testing.T, what string, got, want float64) {
	t.Helper()
	d := math.Abs(got - want)
	if math.IsNaN(got) != math.IsNaN(want) || d > tol {
		t.Errorf("%s = %.17g, want %.17g (scipy), |diff| %.3g > %g", what, got, want, d, tol)
	}
	if d > m.abs {
		m.abs, m.what = d, what
	}
}

func (m *maxDiff) log(t *testing.T, name string) {
	t.Logf("%s: max |diff| vs reference %.3g (%s)", name, m.abs, m.what)
}

func TestKS2SampMatchesSciPy(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for _, c := range v.KS2Samp {
		t.Run(c.Name, func(t *testing.T) {
			got, err := KS2Samp(floats(c.X), floats(c.Y))
			if err != nil {
				t.Fatal(err)
			}
			md.check(t, c.Name+" statistic", got.Statistic, c.Statistic)
			md.check(t, c.Name+" pvalue", got.PValue, c.PValue)
			if c.PValue > 0 && c.PValue < 1e-3 {
				if rel := math.Abs(got.PValue-c.PValue) / c.PValue; rel > 1e-6 {
					t.Errorf("%s: small pvalue %g, want %g (relative diff %.3g)", c.Name, got.PValue, c.PValue, rel)
				}
			}
		})
	}
	md.log(t, "ks_2samp")
}

func TestKolmogorovSFMatchesSciPy(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for _, c := range v.KStwoSF {
		md.check(t, "kstwo.sf(n="+itoa(c.N)+", d="+ftoa(c.D)+")", kolmogorovSF(c.N, c.D), c.SF)
	}
	md.log(t, "kstwo.sf")
}

func TestChi2SFMatchesSciPy(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for _, c := range v.Chi2SF {
		got := Chi2SF(c.X, c.DF)
		md.check(t, "chi2.sf(x="+ftoa(c.X)+", df="+ftoa(c.DF)+")", got, c.SF)
		if c.SF > 1e-300 {
			if rel := math.Abs(got-c.SF) / c.SF; rel > 1e-9 {
				t.Errorf("chi2.sf(%g, %g) = %g, want %g: relative diff %.3g", c.X, c.DF, got, c.SF, rel)
			}
		}
	}
	md.log(t, "chi2.sf")
}

func TestChiSquareMatchesSciPy(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for _, c := range v.ChiSquare {
		got, err := ChiSquare(floats(c.Obs), floats(c.Exp))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		// The statistic can be large; compare it relatively.
		if rel := math.Abs(got.Statistic-c.Statistic) / math.Max(1, c.Statistic); rel > tol {
			t.Errorf("%s: statistic %.17g, want %.17g", c.Name, got.Statistic, c.Statistic)
		}
		md.check(t, c.Name+" pvalue", got.PValue, c.PValue)
		if got.DF != len(c.Obs)-1 {
			t.Errorf("%s: df %d, want %d", c.Name, got.DF, len(c.Obs)-1)
		}
	}
	md.log(t, "chisquare pvalue")
}

func TestJSDistanceMatchesSciPy(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for i, c := range v.JensenShannon {
		md.check(t, "jensenshannon #"+itoa(i), JSDistance(floats(c.P), floats(c.Q)), c.Distance)
	}
	md.log(t, "jensenshannon")
}

func TestPSIMatchesReference(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for i, c := range v.PSI {
		md.check(t, "psi #"+itoa(i), PSI(floats(c.Expected), floats(c.Actual)), c.PSI)
	}
	md.log(t, "psi")
}

func TestQuantileMatchesNumPy(t *testing.T) {
	v := loadVectors(t)
	for i, c := range v.Quantile {
		x := floats(c.X)
		for j, q := range floats(c.Q) {
			got, want := quantileSorted(sortedCopy(x), q), *c.Value[j]
			if got != want {
				t.Errorf("case %d: quantile(q=%v) = %.17g, want %.17g (numpy, bit for bit)", i, q, got, want)
			}
		}
	}
}

func TestCompareMatchesReference(t *testing.T) {
	v := loadVectors(t)
	var md maxDiff
	for _, c := range v.Compare {
		t.Run(c.Name, func(t *testing.T) {
			r, err := Compare(c.Baseline.sample(), c.Current.sample(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Exact {
				t.Error("offline report not marked exact")
			}
			got := map[string]FeatureReport{}
			for _, f := range r.Features {
				got[f.Feature] = f
			}
			if len(got) != len(c.Features) {
				t.Errorf("%d features, want %d", len(got), len(c.Features))
			}
			check := func(want refFeature, f FeatureReport) {
				name := c.Name + "/" + want.Feature
				if f.Count != want.Count {
					t.Errorf("%s: count %d, want %d", name, f.Count, want.Count)
				}
				md.check(t, name+" missing_rate", f.MissingRate, want.MissingRate)
				md.check(t, name+" psi", deref(f.PSI), want.PSI)
				md.check(t, name+" js", deref(f.JS), want.JS)
				pairs := []struct {
					what      string
					got, want *float64
				}{
					{"ks_statistic", f.KSStatistic, want.KSStatistic},
					{"ks_pvalue", f.KSPValue, want.KSPValue},
					{"chi2_pvalue", f.Chi2PValue, want.Chi2PValue},
				}
				for _, p := range pairs {
					if (p.got == nil) != (p.want == nil) {
						t.Errorf("%s: %s present %v, want %v", name, p.what, p.got != nil, p.want != nil)
						continue
					}
					if p.got != nil {
						md.check(t, name+" "+p.what, *p.got, *p.want)
					}
				}
				if (f.Chi2 == nil) != (want.Chi2 == nil) {
					t.Errorf("%s: chi2 present %v, want %v", name, f.Chi2 != nil, want.Chi2 != nil)
				} else if f.Chi2 != nil && math.Abs(*f.Chi2-*want.Chi2)/math.Max(1, *want.Chi2) > tol {
					t.Errorf("%s: chi2 %.17g, want %.17g", name, *f.Chi2, *want.Chi2)
				}
			}
			for _, want := range c.Features {
				check(want, got[want.Feature])
			}
			if r.Prediction == nil {
				t.Fatal("no prediction report")
			}
			check(c.Prediction, *r.Prediction)
		})
	}
	md.log(t, "compare")
}
