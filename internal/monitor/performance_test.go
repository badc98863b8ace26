package monitor

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
)

type perfCase struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Width     int       `json:"width"`
	Labels    []float64 `json:"labels"`
	Scores    []float64 `json:"scores"`
	Accuracy  *float64  `json:"accuracy"`
	Precision *float64  `json:"precision"`
	Recall    *float64  `json:"recall"`
	F1        *float64  `json:"f1"`
	ROCAUC    *float64  `json:"roc_auc"`
	LogLoss   *float64  `json:"log_loss"`
	RMSE      *float64  `json:"rmse"`
	MAE       *float64  `json:"mae"`
}

// TestPerformanceMatchesScikitLearn feeds labelled predictions, a few rows
// per request, and checks every metric against scikit-learn's on the same
// rows (testdata/gen_performance.py).
func TestPerformanceMatchesScikitLearn(t *testing.T) {
	data, err := os.ReadFile("testdata/performance.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []perfCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := NewPerformance(PerformanceOptions{Window: time.Hour})
			t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			const perReq = 5
			rows := len(c.Labels)
			for start := 0; start < rows; start += perReq {
				end := min(start+perReq, rows)
				req := Request{ID: "r", Endpoint: "ep", Time: t0, Answer: Prediction{Version: 2, Width: c.Width, Values: c.Scores[start*c.Width : end*c.Width]}}
				p.Join(req, c.Labels[start:end], t0.Add(30*time.Second))
			}
			vs := p.Versions("ep", t0.Add(time.Minute))
			if len(vs) != 1 || vs[0].Version != 2 {
				t.Fatalf("versions: got %+v, want version 2 only", vs)
			}
			st := vs[0].Window
			check := func(name string, got, want *float64, tol float64) {
				t.Helper()
				switch {
				case want == nil:
					return
				case got == nil:
					t.Errorf("%s: got none, want %v", name, *want)
				case math.Abs(*got-*want) > tol:
					t.Errorf("%s: got %.12g, want %.12g (tolerance %g)", name, *got, *want, tol)
				}
			}
			check("accuracy", st.Accuracy, c.Accuracy, 1e-12)
			check("precision", st.Precision, c.Precision, 1e-12)
			check("recall", st.Recall, c.Recall, 1e-12)
			check("f1", st.F1, c.F1, 1e-12)
			check("log_loss", st.LogLoss, c.LogLoss, 1e-9)
			check("rmse", st.RMSE, c.RMSE, 1e-9)
			check("mae", st.MAE, c.MAE, 1e-9)
			if c.ROCAUC != nil {
				if st.ROCAUC == nil || st.ROCAUCErrorBound == nil {
					t.Fatalf("roc_auc: got none, want %v", *c.ROCAUC)
				}
				if d := math.Abs(*st.ROCAUC - *c.ROCAUC); d > *st.ROCAUCErrorBound+1e-12 {
					t.Errorf("roc_auc: got %.9g, sklearn %.9g: off by %.3g, more than the stated bound %.3g", *st.ROCAUC, *c.ROCAUC, d, *st.ROCAUCErrorBound)
				}
				if *st.ROCAUCErrorBound > 0.01 {
					t.Errorf("roc_auc_error_bound: %g, want at most 0.01 on these scores", *st.ROCAUCErrorBound)
				}
			}
			if st.LabelDelay == nil || st.LabelDelay.Mean != 30 || st.LabelDelay.P50 == nil || *st.LabelDelay.P50 != 60 {
				t.Errorf("label delay: got %+v, want mean 30s, p50 at most 60s", st.LabelDelay)
			}
			if st.Labeled != int64((rows+perReq-1)/perReq) {
				t.Errorf("labeled: got %d, want %d requests", st.Labeled, (rows+perReq-1)/perReq)
			}
		})
	}
}

// TestPerformanceAUCExactAtBinCentres: when no bin holds both a positive
// and a negative, the binned AUC is exact and its bound is 0.
func TestPerformanceAUCExactAtBinCentres(t *testing.T) {
	p := NewPerformance(PerformanceOptions{})
	now := time.Now()
	scores := []float64{0.1005, 0.2005, 0.3005, 0.7005, 0.8005, 0.4005}
	labels := []float64{0, 0, 1, 1, 1, 0}
	p.Join(Request{Endpoint: "e", Time: now, Answer: Prediction{Version: 1, Width: 1, Values: scores}}, labels, now)
	st := p.Versions("e", now)[0].Total
	// Pairs (pos, neg) ordered: 0.3005 beats 0.1005, 0.2005 but not 0.4005;
	// 0.7005 and 0.8005 beat all three: 8 of 9.
	if *st.ROCAUC != 8.0/9 || *st.ROCAUCErrorBound != 0 {
		t.Errorf("roc_auc %v ± %v, want 8/9 exactly", *st.ROCAUC, *st.ROCAUCErrorBound)
	}
}

// TestPerformanceWindowSlides: labels older than the window leave it but
// stay in the total.
func TestPerformanceWindowSlides(t *testing.T) {
	p := NewPerformance(PerformanceOptions{Window: 10 * time.Minute, Slots: 10})
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	req := Request{Endpoint: "e", Time: t0, Answer: Prediction{Version: 1, Width: 1, Values: []float64{0.9}}}
	p.Join(req, []float64{1}, t0)
	p.Join(req, []float64{0}, t0.Add(15*time.Minute))
	v := p.Versions("e", t0.Add(16*time.Minute))[0]
	if v.Total.Labeled != 2 || v.Window.Labeled != 1 {
		t.Fatalf("labeled: total %d, window %d; want 2 and 1", v.Total.Labeled, v.Window.Labeled)
	}
	if *v.Window.Accuracy != 0 || *v.Total.Accuracy != 0.5 {
		t.Errorf("accuracy: window %v, total %v; want 0 and 0.5", *v.Window.Accuracy, *v.Total.Accuracy)
	}
	if len(p.Versions("e", t0.Add(40*time.Minute))) != 1 || p.Versions("e", t0.Add(40*time.Minute))[0].Window.Labeled != 0 {
		t.Errorf("the window should be empty 40 minutes later")
	}
}

// TestPerformanceIgnoresMismatchedLabels: labels that do not fit a
// prediction's rows are skipped, not miscounted.
func TestPerformanceIgnoresMismatchedLabels(t *testing.T) {
	p := NewPerformance(PerformanceOptions{})
	now := time.Now()
	p.Join(Request{Endpoint: "e", Time: now, Answer: Prediction{Version: 1, Width: 1, Values: []float64{0.2, 0.3}}}, []float64{1}, now)
	if vs := p.Versions("e", now); len(vs) != 0 {
		t.Errorf("got %+v, want nothing counted", vs)
	}
}
