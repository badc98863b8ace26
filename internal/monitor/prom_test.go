package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/sluicehq/sluice/internal/monitor/drift"
)

func TestCollectorPassesPromlint(t *testing.T) {
	live := NewLive()
	live.Record("fraud", 1, "stable", 3*time.Millisecond, 2, "")
	live.Record("fraud", 2, "canary", 40*time.Millisecond, 1, "timeout")
	live.Record("fraud", 2, "canary", 200*time.Microsecond, 1, "input")
	c := &Collector{Live: live, Recent: NewRecent(10, time.Hour),
		Mirrors:  func() MirrorCounts { return MirrorCounts{Dropped: 1, Completed: 5} },
		Revision: func() int64 { return 7 },
		Rejected: func() map[string]uint64 { return map[string]uint64{"fraud": 3} },
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP sluice_request_errors_total Failed predictions by kind: input (the caller's bad input), timeout, unavailable, internal.
# TYPE sluice_request_errors_total counter
sluice_request_errors_total{endpoint="fraud",kind="input",role="canary",version="2"} 1
sluice_request_errors_total{endpoint="fraud",kind="input",role="stable",version="1"} 0
sluice_request_errors_total{endpoint="fraud",kind="internal",role="canary",version="2"} 0
sluice_request_errors_total{endpoint="fraud",kind="internal",role="stable",version="1"} 0
sluice_request_errors_total{endpoint="fraud",kind="timeout",role="canary",version="2"} 1
sluice_request_errors_total{endpoint="fraud",kind="timeout",role="stable",version="1"} 0
sluice_request_errors_total{endpoint="fraud",kind="unavailable",role="canary",version="2"} 0
sluice_request_errors_total{endpoint="fraud",kind="unavailable",role="stable",version="1"} 0
# HELP sluice_rows_total Rows scored, by endpoint, version and role.
# TYPE sluice_rows_total counter
sluice_rows_total{endpoint="fraud",role="canary",version="2"} 2
sluice_rows_total{endpoint="fraud",role="stable",version="1"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_request_errors_total", "sluice_rows_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "sluice_request_duration_seconds"); n != 2 {
		t.Errorf("%d latency histograms, want 2", n)
	}
}

// TestMonitoringMetricsPassPromlint exports drift and performance series
// and lints them like the serving metrics.
func TestMonitoringMetricsPassPromlint(t *testing.T) {
	base, err := drift.BuildBaseline(drift.Sample{
		Columns:    []drift.Column{{Name: "amount", Kind: drift.Numeric, Num: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}},
		Prediction: &drift.Column{Name: "prediction", Kind: drift.Numeric, Num: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, 1}},
	}, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDrift(drift.WindowOptions{Size: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 50 {
		d.Observe("fraud", 3, base, Matrix{Features: []string{"amount"}, F64: []float64{float64(i)}, Rows: 1}, Prediction{Version: 3, Width: 1, Values: []float64{0.9}}, now)
	}
	perf := NewPerformance(PerformanceOptions{})
	perf.Join(Request{Endpoint: "fraud", Time: now.Add(-time.Minute), Answer: Prediction{Version: 3, Width: 1, Values: []float64{0.9, 0.2}}}, []float64{1, 1}, now)
	c := &Collector{Live: NewLive(), Drift: d, Performance: perf, Now: func() time.Time { return now }}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for name, want := range map[string]int{
		"sluice_drift_psi": 1, "sluice_drift_psi_max": 1, "sluice_prediction_drift_psi": 1, "sluice_drift_window_rows": 1,
		"sluice_drift_detected": 1, "sluice_model_performance": 5, "sluice_labeled_requests_total": 1, "sluice_label_delay_seconds": 1,
	} {
		if n := testutil.CollectAndCount(c, name); n != want {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
	want := `
# HELP sluice_model_performance Model quality from joined labels over the performance window, by metric (accuracy, precision, recall, f1, roc_auc, log_loss, rmse, mae).
# TYPE sluice_model_performance gauge
sluice_model_performance{endpoint="fraud",metric="accuracy",version="3"} 0.5
sluice_model_performance{endpoint="fraud",metric="f1",version="3"} 0.6666666666666666
sluice_model_performance{endpoint="fraud",metric="log_loss",version="3"} 0.8573992140459633
sluice_model_performance{endpoint="fraud",metric="precision",version="3"} 1
sluice_model_performance{endpoint="fraud",metric="recall",version="3"} 0.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_model_performance"); err != nil {
		t.Error(err)
	}
}
