package monitor

import (
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
