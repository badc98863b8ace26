package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
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
