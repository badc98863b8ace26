package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/predlog"
	"github.com/sluicehq/sluice/internal/registry"
)

// metricsHandler serves /metrics in the Prometheus exposition format: the
// serving metrics of every endpoint, version and role, plus the Go runtime
// and process metrics. A registry per server keeps tests independent.
func metricsHandler(dp api.DataPlane, gw *gateway.Gateway, reg *registry.Service, recent *monitor.Recent, plog *predlog.Logger, extra ...prometheus.Collector) http.Handler {
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
			Rejected:    reg.Rejected,
			Drift:       dp.Drift,
			Performance: dp.Performance,
		},
		serverCollector{models: reg.LoadedModels, plog: plog},
	)
	return promhttp.HandlerFor(pr, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descModelBytes  = prometheus.NewDesc("sluice_model_memory_bytes", "Memory a loaded model version holds (its own estimate, else its artifact's size).", []string{"model", "version"}, nil)
	descModelLoad   = prometheus.NewDesc("sluice_model_load_seconds", "How long loading a model version took.", []string{"model", "version"}, nil)
	descModelBudget = prometheus.NewDesc("sluice_model_memory_budget_bytes", "The --model-memory budget for loaded versions (0: none).", nil, nil)
	descLogRecords  = prometheus.NewDesc("sluice_prediction_log_records_total", "Prediction log records by sink and outcome: written, dropped (queue full or shutting down), failed (the sink's write failed), skipped (sampled out).", []string{"sink", "outcome"}, nil)
	descLogQueued   = prometheus.NewDesc("sluice_prediction_log_queue_length", "Prediction log records waiting in a sink's queue.", []string{"sink"}, nil)
)

// serverCollector exports what the server holds outside the monitors:
// loaded models and the prediction log's sinks.
type serverCollector struct {
	models func() ([]registry.LoadedModel, int64)
	plog   *predlog.Logger
}

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descModelBytes, descModelLoad, descModelBudget, descLogRecords, descLogQueued} {
		ch <- d
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	if c.models != nil {
		ms, budget := c.models()
		ch <- prometheus.MustNewConstMetric(descModelBudget, prometheus.GaugeValue, float64(budget))
		for _, m := range ms {
			v := strconv.Itoa(m.Version)
			ch <- prometheus.MustNewConstMetric(descModelBytes, prometheus.GaugeValue, float64(m.Bytes), m.Model, v)
			ch <- prometheus.MustNewConstMetric(descModelLoad, prometheus.GaugeValue, m.LoadTime.Seconds(), m.Model, v)
		}
	}
	for _, st := range c.plog.Stats() {
		for _, o := range []struct {
			outcome string
			n       uint64
		}{{"written", st.Written}, {"dropped", st.Dropped}, {"failed", st.Failed}, {"skipped", st.Skipped}} {
			ch <- prometheus.MustNewConstMetric(descLogRecords, prometheus.CounterValue, float64(o.n), st.Name, o.outcome)
		}
		ch <- prometheus.MustNewConstMetric(descLogQueued, prometheus.GaugeValue, float64(st.Queued), st.Name)
	}
}
