package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/traffic"
)

// fixtureSample reads the breast cancer fixture with the model's own
// predictions as the prediction column.
func fixtureSample(t testing.TB) drift.Sample {
	t.Helper()
	f, err := os.Open("../../examples/xgboost/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := drift.ReadCSV(f, drift.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Predictions []float64 `json:"predictions"`
	}
	data, err := os.ReadFile("../../examples/xgboost/breast_cancer.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	s.Prediction = &drift.Column{Name: "prediction", Kind: drift.Numeric, Num: exp.Predictions}
	return s
}

// shifted returns a copy of the sample with every value of feature scaled.
func shifted(s drift.Sample, feature string, scale float64) drift.Sample {
	out := drift.Sample{}
	for _, c := range s.Columns {
		c.Num = append([]float64(nil), c.Num...)
		if c.Name == feature {
			for i := range c.Num {
				c.Num[i] *= scale
			}
		}
		out.Columns = append(out.Columns, c)
	}
	return out
}

// monitoredGateway serves the fixture model with a baseline, drift,
// performance and fairness monitors, and a sensitive header.
func monitoredGateway(t testing.TB, window drift.WindowOptions) (*Gateway, *http.ServeMux, *monitor.Drift, *monitor.Fairness) {
	t.Helper()
	base, err := drift.BuildBaseline(fixtureSample(t), drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := monitor.NewDrift(window)
	if err != nil {
		t.Fatal(err)
	}
	fair := monitor.NewFairness()
	g, _ := newTestGateway(t, Options{Drift: d, Fairness: fair, Performance: monitor.NewPerformance(monitor.PerformanceOptions{}), Recent: monitor.NewRecent(1000, time.Hour)})
	s := g.Current()
	ep := *s.Endpoints["bc"]
	ep.SensitiveHeader = "X-Region"
	b1 := *ep.Backends[1]
	b1.Baseline = base
	ep.Backends = map[int]*Backend{1: &b1, 2: ep.Backends[2]}
	g.Swap(&Snapshot{Revision: 2, Endpoints: map[string]*Endpoint{"bc": &ep}})
	mux := http.NewServeMux()
	g.Register(mux)
	return g, mux, d, fair
}

// TestLiveDriftThroughTheGateway sends a shifted copy of the fixture
// through the inference route and checks the live report against the
// offline comparison of the same rows: PSI and JS are computed on the same
// bins and must agree; the live KS bounds must bracket the exact one.
func TestLiveDriftThroughTheGateway(t *testing.T) {
	_, mux, d, fair := monitoredGateway(t, drift.WindowOptions{Size: time.Hour})
	train := fixtureSample(t)
	cur := shifted(train, "mean_radius", 1.3)
	rows := cur.Columns[0].Len()
	const perReq = 7
	for start := 0; start < rows; start += perReq {
		end := min(start+perReq, rows)
		var data []string
		for r := start; r < end; r++ {
			for _, c := range cur.Columns {
				data = append(data, strconv.FormatFloat(float64(float32(c.Num[r])), 'g', -1, 32))
			}
		}
		body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[` + strconv.Itoa(end-start) + `,30],"data":[` + strings.Join(data, ",") + `]}]}`
		req := httptest.NewRequest("POST", "/v2/models/bc/infer", strings.NewReader(body))
		req.Header.Set("X-Region", []string{"north", "south"}[start/perReq%2])
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatal(rec.Code, rec.Body.String())
		}
	}
	live, ok := d.Report("bc", 1, time.Now())
	if !ok {
		t.Fatal("no live window for bc version 1")
	}
	if _, ok := d.Report("bc", 2, time.Now()); ok {
		t.Error("version 2 has no baseline and must have no window")
	}
	// The gateway scores float32 inputs: compare offline on the same values.
	for i := range cur.Columns {
		for r := range cur.Columns[i].Num {
			cur.Columns[i].Num[r] = float64(float32(cur.Columns[i].Num[r]))
		}
	}
	off, err := drift.Compare(train, cur, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if live.Rows != int64(rows) {
		t.Fatalf("live rows %d, want %d", live.Rows, rows)
	}
	if live.Features[0].Feature != "mean_radius" || !live.Features[0].Drifted {
		t.Errorf("worst feature: got %+v, want mean_radius drifted", live.Features[0])
	}
	byName := map[string]drift.FeatureReport{}
	for _, f := range off.Features {
		byName[f.Feature] = f
	}
	for _, lf := range live.Features {
		of := byName[lf.Feature]
		if math.Abs(*lf.PSI-*of.PSI) > 1e-12 || math.Abs(*lf.JS-*of.JS) > 1e-12 {
			t.Errorf("%s: live psi %v js %v, offline psi %v js %v", lf.Feature, *lf.PSI, *lf.JS, *of.PSI, *of.JS)
		}
		if *lf.KSStatistic > *of.KSStatistic+1e-12 || *lf.KSStatisticMax < *of.KSStatistic-1e-12 {
			t.Errorf("%s: exact KS %v outside the live bounds [%v, %v]", lf.Feature, *of.KSStatistic, *lf.KSStatistic, *lf.KSStatisticMax)
		}
	}
	if live.Prediction == nil || live.Prediction.Count != int64(rows) {
		t.Fatalf("prediction drift: %+v", live.Prediction)
	}
	sc, ok := d.InputDrift("bc", 1, time.Now())
	if !ok || sc.Feature != "mean_radius" || sc.MaxPSI != *live.Features[0].PSI || !sc.Drifted {
		t.Errorf("InputDrift: %+v", sc)
	}
	groups := fair.Versions("bc")
	if len(groups) != 1 || len(groups[0].Groups) != 2 || groups[0].Groups[0].Rows+groups[0].Groups[1].Rows != int64(rows) {
		t.Errorf("fairness groups: %+v", groups)
	}
}

// TestDriftSkipsMismatchedBaseline: a baseline whose features the model
// does not take yields no window and costs nothing after the first call.
func TestDriftSkipsMismatchedBaseline(t *testing.T) {
	base, err := drift.BuildBaseline(drift.Sample{Columns: []drift.Column{{Name: "zzz", Kind: drift.Numeric, Num: []float64{1, 2, 3}}}}, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := monitor.NewDrift(drift.WindowOptions{})
	d.Observe("e", 1, base, monitor.Matrix{Features: []string{"a"}, F32: []float32{1}, Rows: 1}, monitor.Prediction{}, time.Now())
	if _, ok := d.Report("e", 1, time.Now()); ok {
		t.Error("a window was made for a baseline with no matching feature")
	}
}

// benchObserve measures what monitoring adds to one request: the drift
// window and fairness counts, on a one-row request of the fixture model.
func benchObserve(b *testing.B, withDrift, withFairness bool) {
	g, _, _, _ := monitoredGateway(b, drift.WindowOptions{Size: time.Hour})
	if !withDrift {
		g.opts.Drift = nil
	}
	if !withFairness {
		g.opts.Fairness = nil
	}
	ep := g.Current().Endpoints["bc"]
	c := &call{ep: ep, b: ep.Backends[1], header: func(string) string { return "north" }}
	in := []inference.Tensor{{Name: "input", Datatype: inference.FP32, Shape: []int64{1, 30}, F32: make([]float32, 30)}}
	for i := range in[0].F32 {
		in[0].F32[i] = float32(i) * 1.7
	}
	answer := monitor.Prediction{Version: 1, Width: 1, Values: []float64{0.4}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.observe(c, in, answer)
	}
}

func BenchmarkMonitoringOff(b *testing.B)              { benchObserve(b, false, false) }
func BenchmarkMonitoringDrift(b *testing.B)            { benchObserve(b, true, false) }
func BenchmarkMonitoringDriftAndFairness(b *testing.B) { benchObserve(b, true, true) }

// BenchmarkHTTPInfer1RowMonitored is BenchmarkHTTPInfer1Row with a
// baseline, drift, performance memory and fairness by header: the
// difference between the two is what monitoring costs per request.
func BenchmarkHTTPInfer1RowMonitored(b *testing.B) {
	_, mux, _, _ := monitoredGateway(b, drift.WindowOptions{Size: time.Hour})
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v2/models/bc/infer", bytes.NewReader(body))
		req.Header.Set("X-Region", "north")
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// TestShadowVersionGetsItsOwnDriftWindow: a shadow version with a baseline
// counts the mirrored requests in its own window.
func TestShadowVersionGetsItsOwnDriftWindow(t *testing.T) {
	g, mux, d, _ := monitoredGateway(t, drift.WindowOptions{Size: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	s := g.Current()
	ep := *s.Endpoints["bc"]
	plan, err := traffic.Compile(traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 1}}, Shadow: []traffic.Shadow{{Version: 2, Percent: 100}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep.Plan = plan
	b2 := *ep.Backends[2]
	b2.Baseline = ep.Backends[1].Baseline
	ep.Backends = map[int]*Backend{1: ep.Backends[1], 2: &b2}
	g.Swap(&Snapshot{Revision: 3, Endpoints: map[string]*Endpoint{"bc": &ep}})
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`
	for range 5 {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/bc/infer", strings.NewReader(body)))
		if rec.Code != 200 {
			t.Fatal(rec.Code, rec.Body.String())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, ok := d.Report("bc", 2, time.Now())
		if ok && r.Rows == 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shadow window: %v %+v", ok, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
