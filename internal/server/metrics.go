package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/registry"
)

// metricsHandler serves /metrics in the Prometheus exposition format: the
// serving metrics of every endpoint, version and role, plus the Go runtime
// and process metrics. A registry per server keeps tests independent.
func metricsHandler(dp api.DataPlane, gw *gateway.Gateway, reg *registry.Service, recent *monitor.Recent, extra ...prometheus.Collector) http.Handler {
	pr := prometheus.NewRegistry()
	pr.MustRegister(extra...)
	pr.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&monitor.Collector{
			Live:   dp.Live,
			Recent: recent,
			Mirrors: func() monitor.MirrorCounts {
				m := gw.MirrorStats()
				return monitor.MirrorCounts{Dropped: m.Dropped, Completed: m.Completed, Failed: m.Failed, Queued: m.Queued}
			},
			Revision: func() int64 {
				if s := gw.Current(); s != nil {
					return s.Revision
				}
				return 0
			},
			Rejected: reg.Rejected,
		},
	)
	return promhttp.HandlerFor(pr, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
