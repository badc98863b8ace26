package monitor

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestInFlight(t *testing.T) {
	l := NewLive()
	a := l.Begin("fraud", 1, "stable")
	b := l.Begin("fraud", 1, "stable")
	inFlight := func() int64 {
		for _, s := range l.Series() {
			if s.Endpoint == "fraud" && s.Version == 1 && s.Role == "stable" {
				return s.InFlight
			}
		}
		return -1
	}
	if got := inFlight(); got != 2 {
		t.Fatalf("in flight = %d, want 2", got)
	}
	a.Done(time.Millisecond, 1, "")
	b.Done(time.Millisecond, 3, "timeout")
	if got := inFlight(); got != 0 {
		t.Errorf("in flight after Done = %d, want 0", got)
	}
	if req, errs := l.Counts("fraud", 1); req != 2 || errs != 1 {
		t.Errorf("counts = %d requests, %d errors; want 2 and 1", req, errs)
	}
}

// TestLiveConcurrentSeries records from many goroutines into series that
// are new and old at once: no count is lost while series are added.
func TestLiveConcurrentSeries(t *testing.T) {
	l := NewLive()
	const workers, each = 8, 500
	roles := []string{"stable", "canary", "shadow"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				f := l.Begin("e"+strconv.Itoa(i%5), 1+(i+w)%4, roles[i%len(roles)])
				f.Done(time.Microsecond, 1, "")
			}
		})
	}
	wg.Wait()
	var total, series int64
	for _, s := range l.Series() {
		total += s.Requests
		series++
		if s.InFlight != 0 {
			t.Errorf("%s v%d %s: %d in flight after every Done", s.Endpoint, s.Version, s.Role, s.InFlight)
		}
	}
	if total != workers*each {
		t.Errorf("requests over all series = %d, want %d", total, workers*each)
	}
	if series != 5*4*3 {
		t.Errorf("series = %d, want %d", series, 5*4*3)
	}
}

func BenchmarkLiveBeginDone(b *testing.B) {
	l := NewLive()
	for v := 1; v <= 3; v++ {
		for _, r := range []string{"stable", "canary", "shadow"} {
			l.Begin("fraud", v, r).Done(time.Millisecond, 1, "")
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Begin("fraud", 2, "canary").Done(time.Millisecond, 1, "")
	}
}
