package monitor

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Live counts what each version of each endpoint served: requests, errors
// and latency. Recording is lock-free after a version's first request.
type Live struct {
	m sync.Map // liveKey → *liveCounters
}

type liveKey struct {
	endpoint string
	version  int
}

type liveCounters struct {
	requests  atomic.Int64
	errors    atomic.Int64
	latencyNS atomic.Int64
}

// LiveStats is one version's counters.
type LiveStats struct {
	Version  int
	Requests int64
	Errors   int64
	Latency  time.Duration // total over Requests
}

// NewLive returns empty counters.
func NewLive() *Live { return &Live{} }

// Record counts one request answered (or failed) by a version.
func (l *Live) Record(endpoint string, version int, latency time.Duration, failed bool) {
	k := liveKey{endpoint, version}
	v, ok := l.m.Load(k)
	if !ok {
		v, _ = l.m.LoadOrStore(k, &liveCounters{})
	}
	c := v.(*liveCounters)
	c.requests.Add(1)
	c.latencyNS.Add(int64(latency))
	if failed {
		c.errors.Add(1)
	}
}

// Stats returns the counters of every version of endpoint, by version.
func (l *Live) Stats(endpoint string) []LiveStats {
	var out []LiveStats
	l.m.Range(func(k, v any) bool {
		key := k.(liveKey)
		if key.endpoint == endpoint {
			c := v.(*liveCounters)
			out = append(out, LiveStats{Version: key.version, Requests: c.requests.Load(), Errors: c.errors.Load(), Latency: time.Duration(c.latencyNS.Load())})
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Counts returns a version's request and error counts.
func (l *Live) Counts(endpoint string, version int) (requests, errors int64) {
	v, ok := l.m.Load(liveKey{endpoint, version})
	if !ok {
		return 0, 0
	}
	c := v.(*liveCounters)
	return c.requests.Load(), c.errors.Load()
}
