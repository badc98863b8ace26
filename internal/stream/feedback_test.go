package stream

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/stream/brokertest"
)

// TestFeedbackFromTopic scores two rows, publishes a label for one and a
// label for an unknown id to a NATS topic, and checks that RunFeedback
// joined the first and rejected the second, as POST /v1/feedback would.
func TestFeedbackFromTopic(t *testing.T) {
	fx := loadFixture(t)
	g := newGateway(t, monitor.NewRecent(100, time.Hour))
	spec, err := g.EndpointFeatures("bc")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 0, 2*len(spec.Features))
	for i := 0; i < 2; i++ {
		for _, f := range spec.Features {
			x = append(x, fx.rows[i][f.Name].(float64))
		}
	}
	res, err := g.ScoreRows(context.Background(), "bc", gateway.Rows{IDs: []string{"s-1", "s-2"}, Keys: []string{"", ""}, X: x})
	if err != nil || res[0].Err != nil || math.Abs(res[1].Values[0]-fx.expected[1]) > 1e-6 {
		t.Fatalf("ScoreRows = %+v, %v", res, err)
	}
	url := brokertest.URL(t, "nats", "feedback")
	m := NewMetrics(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunFeedback(ctx, url, g.JoinFeedback, m, nil) }()
	a, _ := json.Marshal(map[string]any{"request_id": "s-1", "label": 0})
	b, _ := json.Marshal([]map[string]any{{"request_id": "nope", "label": 1}})
	publish(t, url, [][]byte{a, b, []byte(`not json`)})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(m.feedback.WithLabelValues("invalid")) < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if j, r, i := testutil.ToFloat64(m.feedback.WithLabelValues("joined")), testutil.ToFloat64(m.feedback.WithLabelValues("rejected")), testutil.ToFloat64(m.feedback.WithLabelValues("invalid")); j != 1 || r != 1 || i != 1 {
		t.Errorf("feedback joined %v, rejected %v, invalid %v; want 1 each", j, r, i)
	}
}
