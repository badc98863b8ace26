package monitor

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MirrorCounts are the shadow/challenger queue's counters.
type MirrorCounts struct {
	Dropped, Completed, Failed uint64
	Queued                     int
}

// Collector exports Sluice's serving metrics to Prometheus. It reads the
// live counters at scrape time, so the request path only does atomic adds.
type Collector struct {
	// Live holds per-version request counters; required.
	Live *Live
	// Recent is the feedback memory; may be nil.
	Recent *Recent
	// Mirrors reports the mirroring queue; may be nil.
	Mirrors func() MirrorCounts
	// Revision reports the routing table's store revision; may be nil.
	Revision func() int64
	// Rejected reports requests refused by endpoint protection, by
	// endpoint; may be nil.
	Rejected func() map[string]uint64
	// Drift holds the live drift windows; may be nil.
	Drift *Drift
	// Performance holds the metrics from late labels; may be nil.
	Performance *Performance
	// Now is the clock for windows; nil means time.Now.
	Now func() time.Time
}

var (
	labels       = []string{"endpoint", "version", "role"}
	descRequests = prometheus.NewDesc("sluice_requests_total", "Predictions served, by endpoint, version and role.", labels, nil)
	descRows     = prometheus.NewDesc("sluice_rows_total", "Rows scored, by endpoint, version and role.", labels, nil)
	descInFlight = prometheus.NewDesc("sluice_requests_in_flight", "Predictions being scored now, by endpoint, version and role.", labels, nil)
	descErrors   = prometheus.NewDesc("sluice_request_errors_total", "Failed predictions by kind: input (the caller's bad input), timeout, unavailable, internal.", append(labels, "kind"), nil)
	descLatency  = prometheus.NewDesc("sluice_request_duration_seconds", "Prediction latency in seconds, by endpoint, version and role.", labels, nil)
	descDropped  = prometheus.NewDesc("sluice_mirror_dropped_total", "Shadow and challenger copies dropped because the mirroring queue was full.", nil, nil)
	descMirrored = prometheus.NewDesc("sluice_mirror_completed_total", "Shadow and challenger copies scored, by outcome.", []string{"outcome"}, nil)
	descQueued   = prometheus.NewDesc("sluice_mirror_queue_length", "Shadow and challenger copies waiting to be scored.", nil, nil)
	descRecent   = prometheus.NewDesc("sluice_feedback_memory_requests", "Answered requests remembered for feedback to join.", nil, nil)
	descForgot   = prometheus.NewDesc("sluice_feedback_memory_evicted_total", "Requests forgotten before their feedback horizon because the memory was full.", nil, nil)
	descRevision = prometheus.NewDesc("sluice_routing_revision", "Store revision the routing table was built from.", nil, nil)
	descRejected = prometheus.NewDesc("sluice_requests_rejected_total", "Requests refused with 429 by endpoint protection (rate or concurrency limit).", []string{"endpoint"}, nil)

	evLabels       = []string{"endpoint", "version"}
	featLabels     = []string{"endpoint", "version", "feature"}
	descDriftPSI   = prometheus.NewDesc("sluice_drift_psi", "Population stability index of an input feature in the live drift window against the version's baseline.", featLabels, nil)
	descDriftJS    = prometheus.NewDesc("sluice_drift_js_distance", "Jensen-Shannon distance (base 2) of an input feature in the live drift window against the baseline.", featLabels, nil)
	descDriftKS    = prometheus.NewDesc("sluice_drift_ks_statistic", "Kolmogorov-Smirnov statistic (lower bound on the baseline's grid) of a numeric input feature in the live drift window.", featLabels, nil)
	descDriftP     = prometheus.NewDesc("sluice_drift_pvalue", "p-value of the drift test of an input feature (Kolmogorov-Smirnov for numeric, chi-square for categorical features).", featLabels, nil)
	descDrifted    = prometheus.NewDesc("sluice_drift_detected", "1 when an input feature crossed a drift threshold in the live window, else 0.", featLabels, nil)
	descDriftMax   = prometheus.NewDesc("sluice_drift_psi_max", "Largest PSI over a version's input features in the live drift window.", evLabels, nil)
	descPredPSI    = prometheus.NewDesc("sluice_prediction_drift_psi", "Population stability index of the version's predictions in the live drift window against the baseline's.", evLabels, nil)
	descDriftRows  = prometheus.NewDesc("sluice_drift_window_rows", "Rows in the live drift window of a version.", evLabels, nil)
	perfLabels     = []string{"endpoint", "version", "metric"}
	descPerf       = prometheus.NewDesc("sluice_model_performance", "Model quality from joined labels over the performance window, by metric (accuracy, precision, recall, f1, roc_auc, log_loss, rmse, mae).", perfLabels, nil)
	descLabeled    = prometheus.NewDesc("sluice_labeled_requests_total", "Requests whose labels arrived and were joined to the version's prediction.", evLabels, nil)
	descLabelDelay = prometheus.NewDesc("sluice_label_delay_seconds", "Time from a prediction to the arrival of its label.", evLabels, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descRows, descInFlight, descErrors, descLatency, descDropped, descMirrored, descQueued, descRecent, descForgot, descRevision, descRejected,
		descDriftPSI, descDriftJS, descDriftKS, descDriftP, descDrifted, descDriftMax, descPredPSI, descDriftRows, descPerf, descLabeled, descLabelDelay} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.Live.Series() {
		lv := []string{s.Endpoint, strconv.Itoa(s.Version), s.Role}
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.Requests), lv...)
		ch <- prometheus.MustNewConstMetric(descRows, prometheus.CounterValue, float64(s.Rows), lv...)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight), lv...)
		for _, kind := range ErrorKinds {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors[kind]), append(lv, kind)...)
		}
		buckets := make(map[float64]uint64, len(LatencyBuckets))
		for i, b := range LatencyBuckets {
			buckets[b] = s.Buckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(descLatency, uint64(s.Requests), s.LatencySum, buckets, lv...)
	}
	if c.Mirrors != nil {
		m := c.Mirrors()
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(m.Dropped))
		ch <- prometheus.MustNewConstMetric(descMirrored, prometheus.CounterValue, float64(m.Completed), "ok")
		ch <- prometheus.MustNewConstMetric(descMirrored, prometheus.CounterValue, float64(m.Failed), "error")
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(m.Queued))
	}
	if c.Recent != nil {
		ch <- prometheus.MustNewConstMetric(descRecent, prometheus.GaugeValue, float64(c.Recent.Len()))
		ch <- prometheus.MustNewConstMetric(descForgot, prometheus.CounterValue, float64(c.Recent.Dropped()))
	}
	if c.Revision != nil {
		ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, float64(c.Revision()))
	}
	if c.Rejected != nil {
		for ep, n := range c.Rejected() {
			ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(n), ep)
		}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.collectDrift(ch, now())
	c.collectPerformance(ch, now())
}

func (c *Collector) collectDrift(ch chan<- prometheus.Metric, now time.Time) {
	for _, vd := range c.Drift.CachedReports(now) {
		ev := []string{vd.Endpoint, strconv.Itoa(vd.Version)}
		r := vd.Report
		sc := Score(r)
		ch <- prometheus.MustNewConstMetric(descDriftRows, prometheus.GaugeValue, float64(r.Rows), ev...)
		ch <- prometheus.MustNewConstMetric(descDriftMax, prometheus.GaugeValue, sc.MaxPSI, ev...)
		if sc.PredictionPSI != nil {
			ch <- prometheus.MustNewConstMetric(descPredPSI, prometheus.GaugeValue, *sc.PredictionPSI, ev...)
		}
		for _, f := range r.Features {
			fl := append(ev[:2:2], f.Feature)
			gauge := func(d *prometheus.Desc, v *float64) {
				if v != nil {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, *v, fl...)
				}
			}
			gauge(descDriftPSI, f.PSI)
			gauge(descDriftJS, f.JS)
			gauge(descDriftKS, f.KSStatistic)
			gauge(descDriftP, f.KSPValue)
			gauge(descDriftP, f.Chi2PValue)
			d := 0.0
			if f.Drifted {
				d = 1
			}
			ch <- prometheus.MustNewConstMetric(descDrifted, prometheus.GaugeValue, d, fl...)
		}
	}
}

func (c *Collector) collectPerformance(ch chan<- prometheus.Metric, now time.Time) {
	for _, vp := range c.Performance.Versions("", now) {
		ev := []string{vp.Endpoint, strconv.Itoa(vp.Version)}
		ch <- prometheus.MustNewConstMetric(descLabeled, prometheus.CounterValue, float64(vp.Total.Labeled), ev...)
		for name, v := range vp.Window.Metrics() {
			if name == "label_delay_mean_seconds" {
				continue // exported as the label delay histogram
			}
			ch <- prometheus.MustNewConstMetric(descPerf, prometheus.GaugeValue, v, ev[0], ev[1], name)
		}
		if d := vp.Total.LabelDelay; d != nil {
			b := make(map[float64]uint64, len(DelayBuckets))
			for i, le := range DelayBuckets {
				b[le] = uint64(d.Buckets[i])
			}
			ch <- prometheus.MustNewConstHistogram(descLabelDelay, uint64(d.Count), d.Mean*float64(d.Count), b, ev...)
		}
	}
}
