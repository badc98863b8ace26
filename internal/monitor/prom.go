package monitor

import (
	"strconv"

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
}

var (
	labels       = []string{"endpoint", "version", "role"}
	descRequests = prometheus.NewDesc("sluice_requests_total", "Predictions served, by endpoint, version and role.", labels, nil)
	descRows     = prometheus.NewDesc("sluice_rows_total", "Rows scored, by endpoint, version and role.", labels, nil)
	descErrors   = prometheus.NewDesc("sluice_request_errors_total", "Failed predictions by kind: input (the caller's bad input), timeout, unavailable, internal.", append(labels, "kind"), nil)
	descLatency  = prometheus.NewDesc("sluice_request_duration_seconds", "Prediction latency in seconds, by endpoint, version and role.", labels, nil)
	descDropped  = prometheus.NewDesc("sluice_mirror_dropped_total", "Shadow and challenger copies dropped because the mirroring queue was full.", nil, nil)
	descMirrored = prometheus.NewDesc("sluice_mirror_completed_total", "Shadow and challenger copies scored, by outcome.", []string{"outcome"}, nil)
	descQueued   = prometheus.NewDesc("sluice_mirror_queue_length", "Shadow and challenger copies waiting to be scored.", nil, nil)
	descRecent   = prometheus.NewDesc("sluice_feedback_memory_requests", "Answered requests remembered for feedback to join.", nil, nil)
	descForgot   = prometheus.NewDesc("sluice_feedback_memory_evicted_total", "Requests forgotten before their feedback horizon because the memory was full.", nil, nil)
	descRevision = prometheus.NewDesc("sluice_routing_revision", "Store revision the routing table was built from.", nil, nil)
	descRejected = prometheus.NewDesc("sluice_requests_rejected_total", "Requests refused with 429 by endpoint protection (rate or concurrency limit).", []string{"endpoint"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descRows, descErrors, descLatency, descDropped, descMirrored, descQueued, descRecent, descForgot, descRevision, descRejected} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.Live.Series() {
		lv := []string{s.Endpoint, strconv.Itoa(s.Version), s.Role}
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.Requests), lv...)
		ch <- prometheus.MustNewConstMetric(descRows, prometheus.CounterValue, float64(s.Rows), lv...)
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
}
