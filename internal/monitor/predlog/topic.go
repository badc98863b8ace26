package predlog

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/stream/broker"
)

// TopicSink publishes every record as one message, in the JSON form
// AppendJSON writes, to a broker topic (NATS JetStream, Kafka, MQTT; see
// package broker for the URLs). The message key is the request id and so
// is the de-duplication id, so a batch published again after an error is
// dropped by JetStream and can be dropped by other consumers.
type TopicSink struct {
	sink   broker.Sink
	url    string
	closed atomic.Bool
}

var _ Sink = (*TopicSink)(nil)

// NewTopicSink connects to the topic of url.
func NewTopicSink(ctx context.Context, url string) (*TopicSink, error) {
	s, err := broker.OpenSink(ctx, url, broker.Options{ClientID: "sluice-predlog"})
	if err != nil {
		return nil, fmt.Errorf("prediction log topic: %w", err)
	}
	return &TopicSink{sink: s, url: url}, nil
}

// Write publishes the batch and returns when the broker accepted it.
func (s *TopicSink) Write(ctx context.Context, batch []Record) error {
	recs := make([]broker.Record, len(batch))
	for i := range batch {
		r := &batch[i]
		recs[i] = broker.Record{Key: []byte(r.RequestID), Value: AppendJSON(nil, r), ID: "predlog-" + r.RequestID + "-" + r.Role}
	}
	if err := s.sink.Publish(ctx, recs); err != nil {
		return fmt.Errorf("prediction log topic: %w", err)
	}
	return nil
}

// Close releases the connection.
func (s *TopicSink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.sink.Close()
}
