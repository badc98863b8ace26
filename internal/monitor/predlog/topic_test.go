package predlog

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/stream/broker"
	"github.com/sluicehq/sluice/internal/stream/brokertest"
)

// TestTopicSink logs records through a configured topic sink on NATS and
// Kafka and reads them back from the topic.
func TestTopicSink(t *testing.T) {
	for _, scheme := range []string{"nats", "kafka"} {
		t.Run(scheme, func(t *testing.T) {
			url := brokertest.URL(t, scheme, "predlog")
			cfg := &Config{Sinks: []SinkConfig{{Topic: &TopicConfig{URL: url}, FlushInterval: Duration(10 * time.Millisecond)}}}
			l, err := Open(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			for i := 0; i < 5; i++ {
				l.Log(record(i, at))
			}
			src, err := broker.OpenSource(context.Background(), url, broker.Options{Group: "predlog-reader"})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got := map[string]bool{}
			rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer rcancel()
			for len(got) < 5 {
				msgs, err := src.Fetch(rctx, 10, 500*time.Millisecond)
				if err != nil {
					t.Fatalf("reading the topic after %d records: %v", len(got), err)
				}
				for _, m := range msgs {
					var r struct {
						RequestID string `json:"id"`
						Endpoint  string `json:"endpoint"`
					}
					if err := json.Unmarshal(m.Value, &r); err != nil {
						t.Fatalf("record %s: %v", m.Value, err)
					}
					if string(m.Key) != r.RequestID {
						t.Errorf("message key %q, want the request id %q", m.Key, r.RequestID)
					}
					got[r.RequestID] = true
				}
			}
			for i := 0; i < 5; i++ {
				if id := record(i, at).RequestID; !got[id] {
					t.Errorf("record %s (%d) not on the topic; got %v", id, i, got)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
