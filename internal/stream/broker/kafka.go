package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka: a source is a member of the consumer group named by the group,
// so several nodes share the topic's partitions. Offsets are committed by
// Ack only, never automatically, and rebalances wait until the fetched
// batch is acknowledged (BlockRebalanceOnPoll), so a partition moves to
// another node only at a committed offset.

type kafkaSource struct {
	cl  *kgo.Client
	lag atomic.Int64
	// held counts fetched batches waiting for their Ack; rebalances are
	// blocked meanwhile.
	held atomic.Int64
}

// HeaderID is the Kafka header carrying a record's ID.
const HeaderID = "sluice-id"

func kafkaOpts(a Address, opts Options) []kgo.Opt {
	o := []kgo.Opt{kgo.SeedBrokers(a.Hosts...), kgo.ClientID(opts.ClientID)}
	if a.Query.Get("autocreate") != "false" {
		o = append(o, kgo.AllowAutoTopicCreation())
	}
	return o
}

func openKafkaSource(ctx context.Context, a Address, opts Options) (Source, error) {
	o := append(kafkaOpts(a, opts),
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(a.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Eager sticky: every rebalance waits for the batch under way to be
		// committed (BlockRebalanceOnPoll), then moves as few partitions as
		// it can. (With the cooperative balancer a member joining an active
		// group was never given partitions in our tests.)
		kgo.Balancers(kgo.StickyBalancer()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(o...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", a.Hosts, err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", a.Hosts, err)
	}
	s := &kafkaSource{cl: cl}
	s.lag.Store(-1)
	return s, nil
}

func (s *kafkaSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	fs := s.cl.PollRecords(pctx, max)
	if fs.IsClientClosed() {
		return nil, errors.New("kafka client closed")
	}
	var ferr error
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
			ferr = fmt.Errorf("fetching %s[%d] from Kafka: %w", topic, p, err)
		}
	})
	var out []*Message
	var lag int64
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			lag += p.HighWatermark - p.Records[n-1].Offset - 1
		}
		for _, r := range p.Records {
			out = append(out, &Message{Key: r.Key, Value: r.Value, Time: r.Timestamp, Topic: r.Topic, ack: r,
				ID: r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)})
		}
	})
	if len(out) > 0 {
		s.held.Add(1)
		s.lag.Store(lag)
		return out, nil
	}
	if s.held.Load() <= 0 {
		s.cl.AllowRebalance()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, ferr
}

func (s *kafkaSource) Ack(ctx context.Context, msgs []*Message) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = m.ack.(*kgo.Record)
	}
	if err := s.cl.CommitRecords(ctx, recs...); err != nil {
		return fmt.Errorf("committing Kafka offsets: %w", err)
	}
	// A rebalance may go ahead after each commit. A batch fetched ahead
	// and not yet committed may then be delivered again to the partition's
	// new owner: at least once, never skipped.
	s.held.Add(-1)
	s.cl.AllowRebalance()
	return nil
}

func (s *kafkaSource) Lag() int64 { return s.lag.Load() }

func (s *kafkaSource) Close() error {
	s.cl.AllowRebalance()
	s.cl.Close()
	return nil
}

type kafkaSink struct {
	cl    *kgo.Client
	topic string
}

func openKafkaSink(ctx context.Context, a Address, opts Options) (Sink, error) {
	o := append(kafkaOpts(a, opts), kgo.DefaultProduceTopic(a.Topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	cl, err := kgo.NewClient(o...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", a.Hosts, err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", a.Hosts, err)
	}
	return &kafkaSink{cl: cl, topic: a.Topic}, nil
}

func (s *kafkaSink) Publish(ctx context.Context, recs []Record) error {
	rs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: s.topic, Key: r.Key, Value: r.Value}
		if r.ID != "" {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: HeaderID, Value: []byte(r.ID)})
		}
		for k, v := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		rs[i] = kr
	}
	if err := s.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("producing to Kafka topic %s: %w", s.topic, err)
	}
	return nil
}

func (s *kafkaSink) Close() error {
	s.cl.Close()
	return nil
}
