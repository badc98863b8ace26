package gateway

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/traffic"
)

// TestScoreRows checks the multi-row entry point: rows are routed one by
// one by the plan (a 50/50 split sends rows to both versions), each row's
// answer is remembered under its own request id for feedback, and a row
// pinned to a missing feature fails alone.
func TestScoreRows(t *testing.T) {
	recent := monitor.NewRecent(1000, time.Hour)
	g, _ := newTestGateway(t, Options{Recent: recent, Outcomes: monitor.NewOutcomes()})
	s := g.Current()
	plan, err := traffic.NewPlan([]traffic.Split{{Version: 1, Weight: 50}, {Version: 2, Weight: 50}})
	if err != nil {
		t.Fatal(err)
	}
	ep := *s.Endpoints["bc"]
	ep.Plan = plan
	g.Swap(&Snapshot{Revision: 2, Endpoints: map[string]*Endpoint{"bc": &ep}})

	spec, err := g.EndpointFeatures("bc")
	if err != nil {
		t.Fatal(err)
	}
	nf := len(spec.Features)
	const n = 200
	rows := Rows{X: make([]float64, n*nf)}
	for i := 0; i < n; i++ {
		rows.IDs = append(rows.IDs, "r"+strconv.Itoa(i))
		rows.Keys = append(rows.Keys, "")
		for j := 0; j < nf; j++ {
			rows.X[i*nf+j] = float64(i%7) + float64(j)/10
		}
	}
	res, err := g.ScoreRows(context.Background(), "bc", rows)
	if err != nil {
		t.Fatal(err)
	}
	byVersion := map[int]int{}
	for i, r := range res {
		if r.Err != nil || len(r.Values) != 1 || math.IsNaN(r.Values[0]) {
			t.Fatalf("row %d: %+v", i, r)
		}
		byVersion[r.Version]++
		if _, ok := recent.Get(rows.IDs[i]); !ok {
			t.Errorf("row %d is not remembered under its request id", i)
		}
	}
	if byVersion[1] < 50 || byVersion[2] < 50 {
		t.Errorf("rows per version %v: want both versions of a 50/50 split to answer", byVersion)
	}
	fb, err := g.JoinFeedback([]byte(`[{"request_id":"r3","label":1},{"request_id":"nope","label":0}]`))
	if err != nil || fb.Joined != 1 || fb.Rejected != 1 {
		t.Errorf("JoinFeedback = %+v, %v; want 1 joined, 1 rejected", fb, err)
	}
	if _, err := g.JoinFeedback([]byte(`{"request_id":`)); err == nil {
		t.Error("JoinFeedback of broken JSON: no error")
	}
	if _, err := g.ScoreRows(context.Background(), "nope", rows); !errors.Is(err, ErrNotServed) {
		t.Errorf("ScoreRows on an unknown endpoint: %v, want ErrNotServed", err)
	}
	if _, err := g.ScoreRows(context.Background(), "bc", Rows{IDs: []string{"a"}, X: []float64{1}}); err == nil {
		t.Error("ScoreRows with a short row: no error")
	}
}
