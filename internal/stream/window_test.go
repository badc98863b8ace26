package stream

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// event is one message of the window tests.
type event struct {
	key string
	t   int64 // ns
	v   float64
}

// direct computes the aggregates of e's window from every earlier event
// of its key (and e), by the definition in window.go.
func direct(w *Window, applied []event, e event) []float64 {
	size := int64(w.Size)
	width := size
	if w.Type == "sliding" {
		width = int64(w.Slide)
	}
	var in []event
	for _, x := range applied {
		if x.key != e.key {
			continue
		}
		s := floorDiv(x.t, width) * width
		if w.Type == "tumbling" {
			if s == floorDiv(e.t, width)*width {
				in = append(in, x)
			}
		} else if s > e.t-size && s <= e.t {
			in = append(in, x)
		}
	}
	out := make([]float64, len(w.Aggregates))
	for i, a := range w.Aggregates {
		var n, sum float64
		mn, mx := math.Inf(1), math.Inf(-1)
		var last float64
		var lastT int64 = math.MinInt64
		for _, x := range in {
			n++
			sum += x.v
			mn, mx = math.Min(mn, x.v), math.Max(mx, x.v)
			if x.t >= lastT {
				last, lastT = x.v, x.t
			}
		}
		switch a.Fn {
		case "count":
			out[i] = n
		case "sum":
			out[i] = sum
		case "mean":
			out[i] = sum / n
		case "min":
			out[i] = mn
		case "max":
			out[i] = mx
		case "last":
			out[i] = last
		}
	}
	return out
}

func TestWindowsMatchDirectComputation(t *testing.T) {
	aggs := []Aggregate{{Fn: "count", As: "n"}, {Fn: "sum", Field: "amount", As: "sum"}, {Fn: "mean", Field: "amount", As: "mean"},
		{Fn: "min", Field: "amount", As: "min"}, {Fn: "max", Field: "amount", As: "max"}, {Fn: "last", Field: "amount", As: "last"}}
	windows := []*Window{
		{Type: "tumbling", Size: Duration(10 * time.Minute), Aggregates: aggs, AllowedLateness: Duration(time.Minute)},
		{Type: "sliding", Size: Duration(10 * time.Minute), Slide: Duration(time.Minute), Aggregates: aggs, AllowedLateness: Duration(2 * time.Minute)},
		{Type: "sliding", Size: Duration(5 * time.Second), Slide: Duration(time.Second), Aggregates: aggs},
	}
	for _, w := range windows {
		t.Run(w.Type+"/"+time.Duration(w.Size).String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			ws := newWindows(w)
			var applied []event
			newest := map[string]int64{}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
			clock := base
			late := 0
			for i := 0; i < 3000; i++ {
				clock += r.Int64N(int64(time.Duration(w.Size) / 20))
				// Some events are out of order, some too late.
				jitter := int64(0)
				if r.IntN(5) == 0 {
					jitter = r.Int64N(int64(time.Duration(w.AllowedLateness)*2 + time.Second))
				}
				e := event{key: []string{"a", "b", "c"}[r.IntN(3)], t: clock - jitter, v: math.Round(r.Float64()*1000) / 10}
				got, err := ws.add(e.key, time.Unix(0, e.t), []float64{e.v}, true)
				if e.t < newest[e.key]-int64(w.AllowedLateness) {
					if err == nil || !strings.Contains(err.Error(), "late event") {
						t.Fatalf("event %d is late but add returned %v, %v", i, got, err)
					}
					late++
					continue
				}
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				applied = append(applied, e)
				newest[e.key] = max(newest[e.key], e.t)
				want := direct(w, applied, e)
				for k := range want {
					if math.Abs(got[k]-want[k]) > 1e-9*math.Max(1, math.Abs(want[k])) {
						t.Fatalf("event %d (%+v): %s = %v, want %v", i, e, w.Aggregates[k].As, got[k], want[k])
					}
				}
			}
			if w.AllowedLateness > 0 && late == 0 {
				t.Error("the test sent no late events")
			}
		})
	}
}

func TestWindowsBoundedAndCheckpointed(t *testing.T) {
	w := &Window{Type: "tumbling", Size: Duration(time.Minute), MaxKeys: 100, TTL: Duration(time.Hour), Aggregates: []Aggregate{{Fn: "count", As: "n"}, {Fn: "sum", Field: "x", As: "s"}}}
	ws := newWindows(w)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ws.now = func() time.Time { return now }
	at := now
	for i := 0; i < 1000; i++ {
		now = now.Add(time.Millisecond)
		if _, err := ws.add("k"+string(rune('A'+i%200)), at, []float64{1}, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(ws.keys) > 100 {
		t.Errorf("%d keys kept, want at most MaxKeys 100", len(ws.keys))
	}
	ch, err := ws.changes()
	if err != nil {
		t.Fatal(err)
	}
	// Restore into a fresh state from the checkpointed keys.
	saved := map[string][]byte{}
	for k, v := range ch {
		if v != nil {
			saved[k] = v
		}
	}
	ws2 := newWindows(w)
	ws2.now = ws.now
	if err := ws2.restore(saved); err != nil {
		t.Fatal(err)
	}
	for k, ks := range ws.keys {
		a := ws.aggregate(ks, at.UnixNano())
		b := ws2.aggregate(ws2.keys[k], at.UnixNano())
		if a[0] != b[0] || a[1] != b[1] {
			t.Errorf("key %s: restored aggregates %v, want %v", k, b, a)
		}
	}
	// A replayed message (already applied) does not count twice.
	before, _ := ws2.add("kA", at, []float64{1}, false)
	again, _ := ws2.add("kA", at, []float64{1}, false)
	if before[0] != again[0] {
		t.Errorf("replays changed the count: %v then %v", before[0], again[0])
	}
	// Keys unseen for the TTL go.
	now = now.Add(2 * time.Hour)
	if gone := ws2.expire(); len(gone) == 0 || len(ws2.keys) != 0 {
		t.Errorf("expire dropped %d keys, %d left; want all", len(gone), len(ws2.keys))
	}
}
