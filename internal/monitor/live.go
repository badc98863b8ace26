package monitor

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Live counts what each version of each endpoint served, by role: requests,
// rows, failures by kind, and a latency histogram. Recording is lock-free
// after a series' first request; Prometheus reads it at scrape time.
type Live struct {
	// m is read without a lock on every prediction; a new series copies
	// it under mu. A map typed by liveKey hashes the key's fields
	// directly, where a sync.Map hashes it through an interface.
	m  atomic.Pointer[map[liveKey]*liveCounters]
	mu sync.Mutex
}

type liveKey struct {
	endpoint string
	version  int
	role     string
}

// ErrorKinds are the kinds of failure counted per version.
var ErrorKinds = []string{"input", "timeout", "unavailable", "internal"}

// LatencyBuckets are the upper bounds, in seconds, of the latency histogram.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type liveCounters struct {
	inFlight  atomic.Int64
	requests  atomic.Int64
	rows      atomic.Int64
	errors    [4]atomic.Int64 // by ErrorKinds
	latencyNS atomic.Int64
	buckets   [17]atomic.Int64 // per LatencyBuckets bound, then +Inf; not cumulative
}

// LiveStats is one version's counters, all roles together.
type LiveStats struct {
	Version  int
	Requests int64
	// Errors counts failures other than the caller's bad input.
	Errors  int64
	Latency time.Duration // total over Requests
}

// NewLive returns empty counters.
func NewLive() *Live { return &Live{} }

func (l *Live) counters(k liveKey) *liveCounters {
	if m := l.m.Load(); m != nil {
		if c := (*m)[k]; c != nil {
			return c
		}
	}
	return l.add(k)
}

// add returns k's counters, adding them when they are new. The series
// of an endpoint's versions and roles are few and added once, so copying
// the map costs nothing that matters.
func (l *Live) add(k liveKey) *liveCounters {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.all()
	if c := old[k]; c != nil {
		return c
	}
	m := make(map[liveKey]*liveCounters, len(old)+1)
	for key, c := range old {
		m[key] = c
	}
	c := &liveCounters{}
	m[k] = c
	l.m.Store(&m)
	return c
}

// all returns every series' counters; the map must not be modified.
func (l *Live) all() map[liveKey]*liveCounters {
	if m := l.m.Load(); m != nil {
		return *m
	}
	return nil
}

// Flight is one prediction in progress, counted as in flight until Done.
type Flight struct{ c *liveCounters }

// Begin counts a prediction by a version in a role as in flight; Done ends
// it and records it as Record does.
func (l *Live) Begin(endpoint string, version int, role string) Flight {
	c := l.counters(liveKey{endpoint, version, role})
	c.inFlight.Add(1)
	return Flight{c}
}

// Done records the prediction Begin started; kind is "" for success or one
// of ErrorKinds.
func (f Flight) Done(latency time.Duration, rows int, kind string) {
	f.c.inFlight.Add(-1)
	f.c.record(latency, rows, kind)
}

// Record counts one prediction of rows rows by a version in a role; kind is
// "" for success or one of ErrorKinds.
func (l *Live) Record(endpoint string, version int, role string, latency time.Duration, rows int, kind string) {
	l.counters(liveKey{endpoint, version, role}).record(latency, rows, kind)
}

func (c *liveCounters) record(latency time.Duration, rows int, kind string) {
	c.requests.Add(1)
	c.rows.Add(int64(rows))
	c.latencyNS.Add(int64(latency))
	s := latency.Seconds()
	i := sort.SearchFloat64s(LatencyBuckets, s)
	c.buckets[i].Add(1)
	if kind != "" {
		for k, name := range ErrorKinds {
			if name == kind {
				c.errors[k].Add(1)
			}
		}
	}
}

// Stats returns the counters of every version of endpoint, by version, all
// roles together.
func (l *Live) Stats(endpoint string) []LiveStats {
	byVersion := map[int]*LiveStats{}
	for key, c := range l.all() {
		if key.endpoint != endpoint {
			continue
		}
		st := byVersion[key.version]
		if st == nil {
			st = &LiveStats{Version: key.version}
			byVersion[key.version] = st
		}
		st.Requests += c.requests.Load()
		st.Latency += time.Duration(c.latencyNS.Load())
		for k := 1; k < len(ErrorKinds); k++ { // input errors are the caller's
			st.Errors += c.errors[k].Load()
		}
	}
	out := make([]LiveStats, 0, len(byVersion))
	for _, st := range byVersion {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Counts returns a version's request and failure counts (bad input not
// counted as a failure), all roles together.
func (l *Live) Counts(endpoint string, version int) (requests, errors int64) {
	for _, st := range l.Stats(endpoint) {
		if st.Version == version {
			return st.Requests, st.Errors
		}
	}
	return 0, 0
}

// Histogram returns a version's latency histogram, all roles together:
// counts per LatencyBuckets bound (not cumulative), then the +Inf bucket.
func (l *Live) Histogram(endpoint string, version int) []int64 {
	out := make([]int64, len(LatencyBuckets)+1)
	for key, c := range l.all() {
		if key.endpoint != endpoint || key.version != version {
			continue
		}
		for i := range out {
			out[i] += c.buckets[i].Load()
		}
	}
	return out
}

// Series is one (endpoint, version, role) series for exporters.
type Series struct {
	Endpoint, Role string
	Version        int
	Requests, Rows int64
	InFlight       int64
	Errors         map[string]int64
	LatencySum     float64  // seconds
	Buckets        []uint64 // cumulative counts per LatencyBuckets bound
}

// Series returns every series, sorted.
func (l *Live) Series() []Series {
	var out []Series
	for key, c := range l.all() {
		s := Series{Endpoint: key.endpoint, Version: key.version, Role: key.role,
			Requests: c.requests.Load(), Rows: c.rows.Load(), InFlight: c.inFlight.Load(), Errors: map[string]int64{},
			LatencySum: time.Duration(c.latencyNS.Load()).Seconds(), Buckets: make([]uint64, len(LatencyBuckets))}
		for i, name := range ErrorKinds {
			s.Errors[name] = c.errors[i].Load()
		}
		var cum uint64
		for i := range LatencyBuckets {
			cum += uint64(c.buckets[i].Load())
			s.Buckets[i] = cum
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].Role < out[j].Role
	})
	return out
}
