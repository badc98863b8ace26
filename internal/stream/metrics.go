package stream

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of every pipeline of a process,
// labelled by stream.
type Metrics struct {
	in, out, dead, retries *prometheus.CounterVec
	lag                    *prometheus.GaugeVec
	latency                *prometheus.HistogramVec
	feedback               *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		in: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_stream_messages_in_total",
			Help: "Messages read from a stream's source."}, []string{"stream"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_stream_messages_out_total",
			Help: "Results published to a stream's sink."}, []string{"stream"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_stream_dead_letters_total",
			Help: "Instances a stream could not decode or score, sent to its dead letter sink."}, []string{"stream"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_stream_retries_total",
			Help: "Batches a stream tried again after its model, sink or checkpoint failed."}, []string{"stream"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_stream_consumer_lag_messages",
			Help: "Messages waiting in a stream's source for its consumer, as last seen (-1: the broker does not tell)."}, []string{"stream"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_stream_end_to_end_latency_seconds",
			Help:    "Time from a message's event time to its result being published and acknowledged.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"stream"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_stream_feedback_messages_total",
			Help: "Feedback messages read from the feedback topic, by result (joined, rejected, invalid)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.Collectors()...)
	}
	return m
}

// Collectors returns the metrics, to register them with a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.in, m.out, m.dead, m.retries, m.lag, m.latency, m.feedback}
}

// Forget drops the series of a stream that no longer runs here.
func (m *Metrics) Forget(stream string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.in, m.out, m.dead, m.retries} {
		v.DeleteLabelValues(stream)
	}
	m.lag.DeleteLabelValues(stream)
	m.latency.DeleteLabelValues(stream)
}

// pipelineMetrics are one stream's series.
type pipelineMetrics struct {
	in, out, dead, retries prometheus.Counter
	lagG                   prometheus.Gauge
	latency                prometheus.Observer
}

func (m *pipelineMetrics) lag(n int64) { m.lagG.Set(float64(n)) }

func (m *Metrics) forStream(name string) *pipelineMetrics {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &pipelineMetrics{
		in: m.in.WithLabelValues(name), out: m.out.WithLabelValues(name), dead: m.dead.WithLabelValues(name),
		retries: m.retries.WithLabelValues(name), lagG: m.lag.WithLabelValues(name), latency: m.latency.WithLabelValues(name),
	}
}
