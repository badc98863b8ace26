package stream

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetricsLint checks the stream metrics with promlint, the linter
// behind `promtool check metrics`.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	pm := m.forStream("s")
	pm.in.Add(3)
	pm.out.Add(2)
	pm.dead.Inc()
	pm.retries.Inc()
	pm.lag(5)
	pm.latency.Observe(0.01)
	m.feedback.WithLabelValues("joined").Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	m.Forget("s")
	mfs, _ = reg.Gather()
	for _, mf := range mfs {
		for _, met := range mf.Metric {
			for _, l := range met.Label {
				if l.GetName() == "stream" && l.GetValue() == "s" {
					t.Errorf("%s still has stream=s after Forget", mf.GetName())
				}
			}
		}
	}
}
