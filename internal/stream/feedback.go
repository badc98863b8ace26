package stream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/stream/broker"
)

// FeedbackGroup is the consumer group of the feedback topic: the nodes
// share its messages.
const FeedbackGroup = "sluice-feedback"

// RunFeedback reads feedback messages from a topic (each in any form
// POST /v1/feedback takes, usually {"request_id": "...", "label": 1}) and
// joins them with join, until ctx ends. A message is acknowledged once
// joined or found invalid; a broken connection is opened again.
func RunFeedback(ctx context.Context, url string, join func([]byte) (gateway.FeedbackResult, error), m *Metrics, log *slog.Logger) error {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		err := feedbackOnce(ctx, url, join, m, log)
		if ctx.Err() != nil {
			return nil
		}
		log.Error("feedback topic failed; reconnecting", "err", err, "wait", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
	return nil
}

func feedbackOnce(ctx context.Context, url string, join func([]byte) (gateway.FeedbackResult, error), m *Metrics, log *slog.Logger) error {
	src, err := broker.OpenSource(ctx, url, broker.Options{Group: FeedbackGroup, ClientID: "sluice-feedback"})
	if err != nil {
		return fmt.Errorf("feedback topic: %w", err)
	}
	defer src.Close()
	log.Info("reading feedback", "topic", redact(url))
	for {
		msgs, err := src.Fetch(ctx, 256, time.Second)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			res, err := join(msg.Value)
			switch {
			case err != nil:
				m.feedback.WithLabelValues("invalid").Inc()
				log.Warn("feedback message ignored", "err", err)
			default:
				m.feedback.WithLabelValues("joined").Add(float64(res.Joined))
				m.feedback.WithLabelValues("rejected").Add(float64(res.Rejected))
			}
		}
		if len(msgs) > 0 {
			if err := src.Ack(ctx, msgs); err != nil {
				return err
			}
		}
	}
}
