package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS JetStream: a source is a durable pull consumer named after the
// group, so several nodes with the same group share the messages and a
// restarted node resumes where the acknowledged ones end. A subject no
// stream covers gets a stream of its own (named by ?stream= or after the
// subject), so publishing and consuming work on a fresh server.

// Headers Sluice reads and writes on NATS messages.
const (
	// HeaderKey carries a message's key.
	HeaderKey = "Sluice-Key"
)

func natsConnect(a Address, opts Options) (*nats.Conn, jetstream.JetStream, error) {
	urls := make([]string, len(a.Hosts))
	for i, h := range a.Hosts {
		urls[i] = "nats://" + h
	}
	nopts := []nats.Option{nats.Name(opts.ClientID), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if a.User != "" {
		nopts = append(nopts, nats.UserInfo(a.User, a.Password))
	}
	if tok := a.Query.Get("token"); tok != "" {
		nopts = append(nopts, nats.Token(tok))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", strings.Join(a.Hosts, ","), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(opts.InFlight))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS JetStream: %w", err)
	}
	return nc, js, nil
}

// ensureStream returns the name of the stream that stores subject,
// creating one when none does.
func ensureStream(ctx context.Context, js jetstream.JetStream, a Address) (string, error) {
	name, err := js.StreamNameBySubject(ctx, a.Topic)
	if err == nil {
		return name, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return "", fmt.Errorf("finding the JetStream stream of %q: %w", a.Topic, err)
	}
	name = a.Query.Get("stream")
	if name == "" {
		name = "SLUICE_" + sanitize(strings.NewReplacer("*", "ANY", ">", "ALL").Replace(a.Topic))
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{a.Topic}, Duplicates: 2 * time.Minute})
	if err != nil {
		return "", fmt.Errorf("creating JetStream stream %s for %q: %w", name, a.Topic, err)
	}
	return name, nil
}

type natsSource struct {
	nc   *nats.Conn
	cons jetstream.Consumer
	lag  atomic.Int64
}

func openNATSSource(ctx context.Context, a Address, opts Options) (Source, error) {
	nc, js, err := natsConnect(a, opts)
	if err != nil {
		return nil, err
	}
	stream, err := ensureStream(ctx, js, a)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       sanitize(opts.Group),
		FilterSubject: a.Topic,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: opts.InFlight,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("creating JetStream consumer %s on %s: %w", opts.Group, stream, err)
	}
	s := &natsSource{nc: nc, cons: cons}
	s.lag.Store(-1)
	return s, nil
}

func (s *natsSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	if wait < 10*time.Millisecond {
		wait = 10 * time.Millisecond
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = max64(time.Until(d), time.Millisecond)
	}
	batch, err := s.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("fetching from JetStream: %w", err)
	}
	var out []*Message
	for m := range batch.Messages() {
		msg := &Message{Value: m.Data(), Topic: m.Subject(), ack: m}
		if h := m.Headers(); h != nil {
			if k := h.Get(HeaderKey); k != "" {
				msg.Key = []byte(k)
			}
		}
		if md, err := m.Metadata(); err == nil {
			msg.Time = md.Timestamp
			msg.ID = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
			msg.Redelivered = md.NumDelivered > 1
			s.lag.Store(int64(md.NumPending))
		}
		out = append(out, msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		if len(out) > 0 {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("fetching from JetStream: %w", err)
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func (s *natsSource) Ack(ctx context.Context, msgs []*Message) error {
	for _, m := range msgs {
		if err := m.ack.(jetstream.Msg).Ack(); err != nil {
			return fmt.Errorf("acknowledging a JetStream message: %w", err)
		}
	}
	return nil
}

func (s *natsSource) Lag() int64 { return s.lag.Load() }

func (s *natsSource) Close() error {
	s.nc.Close()
	return nil
}

type natsSink struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

func openNATSSink(ctx context.Context, a Address, opts Options) (Sink, error) {
	nc, js, err := natsConnect(a, opts)
	if err != nil {
		return nil, err
	}
	if _, err := ensureStream(ctx, js, a); err != nil {
		nc.Close()
		return nil, err
	}
	return &natsSink{nc: nc, js: js, subject: a.Topic}, nil
}

func (s *natsSink) Publish(ctx context.Context, recs []Record) error {
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	for _, r := range recs {
		m := &nats.Msg{Subject: s.subject, Data: r.Value}
		if len(r.Key) > 0 || r.ID != "" || len(r.Headers) > 0 {
			m.Header = nats.Header{}
			if len(r.Key) > 0 {
				m.Header.Set(HeaderKey, string(r.Key))
			}
			if r.ID != "" {
				m.Header.Set(jetstream.MsgIDHeader, r.ID)
			}
			for k, v := range r.Headers {
				m.Header.Set(k, v)
			}
		}
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publishing to %s: %w", s.subject, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publishing to %s: %w", s.subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *natsSink) Close() error {
	s.nc.Close()
	return nil
}
