package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/stream"
)

// streams runs the stored streams on this node. Every node runs every
// stream that is not windowed: the brokers' consumer groups (Kafka
// partitions, a shared JetStream durable consumer) spread the messages
// over the nodes. A windowed stream keeps state per key, which must see
// every message of its key, so it runs on one node at a time: the holder
// of its lease in the store, renewed every poll; when that node dies its
// lease runs out and another node takes over from the checkpoint.
type streams struct {
	db   *store.DB
	gw   *gateway.Gateway
	mgr  *stream.Manager
	log  *slog.Logger
	node string
	poll time.Duration

	mu       sync.Mutex
	versions map[string]*atomic.Int64 // model version per stream scoring a model
	leased   map[string]bool
}

func newStreams(db *store.DB, gw *gateway.Gateway, metrics *stream.Metrics, log *slog.Logger, poll, ackWait time.Duration) *streams {
	host, _ := os.Hostname()
	node := host + "-" + strconv.Itoa(os.Getpid())
	s := &streams{db: db, gw: gw, log: log, node: node, poll: poll, versions: map[string]*atomic.Int64{}, leased: map[string]bool{}}
	s.mgr = stream.NewManager(stream.ManagerOptions{Logger: log, Metrics: metrics, Checkpoint: storeCheckpoint{db}, ClientID: "sluice-" + node, AckWait: ackWait})
	return s
}

// Status reports a stream this node runs.
func (s *streams) Status(name string) (stream.Status, bool) { return s.mgr.Status(name) }

// Run runs the manager and reconciles it with the store every poll.
func (s *streams) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.mgr.Run(ctx) }()
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconciling streams", "err", err)
		}
		select {
		case <-ctx.Done():
			err := <-done
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.mu.Lock()
			for name := range s.leased {
				_ = s.db.ReleaseStreamLease(rctx, name, s.node)
			}
			s.mu.Unlock()
			return err
		case <-t.C:
		}
	}
}

func (s *streams) reconcile(ctx context.Context) error {
	sts, err := s.db.ListStreams(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var defs []stream.Definition
	seen := map[string]bool{}
	for _, st := range sts {
		var doc stream.Document
		if err := json.Unmarshal(st.Spec, &doc); err != nil {
			s.log.Error("stream has an unreadable document; not running it", "stream", st.Name, "err", err)
			continue
		}
		seen[st.Name] = true
		d := stream.Definition{Name: st.Name, Spec: doc.Spec, Generation: st.Generation}
		if doc.Spec.Endpoint != "" {
			d.Scorer = stream.EndpointScorer{Gateway: s.gw, Endpoint: doc.Spec.Endpoint}
		} else {
			model, ref, err := stream.ParseModelRef(doc.Spec.Model)
			if err != nil {
				continue
			}
			v, err := s.db.ResolveVersion(ctx, model, ref)
			if err != nil {
				s.log.Warn("stream model does not resolve; not running it", "stream", st.Name, "model", doc.Spec.Model, "err", err)
				continue
			}
			cur := s.versions[st.Name]
			if cur == nil {
				cur = new(atomic.Int64)
				s.versions[st.Name] = cur
			}
			cur.Store(int64(v.Version)) // an alias that moved takes effect with the next batch
			d.Scorer = stream.ModelScorer{Gateway: s.gw, Model: model, Version: func() int { return int(cur.Load()) }}
		}
		if doc.Spec.Window != nil && !doc.Spec.Paused {
			ok, err := s.db.AcquireStreamLease(ctx, st.Name, s.node, 3*s.poll+5*time.Second)
			if err != nil {
				return err
			}
			if !ok {
				delete(s.leased, st.Name)
				continue // another node runs it
			}
			s.leased[st.Name] = true
		}
		defs = append(defs, d)
	}
	for name := range s.versions {
		if !seen[name] {
			delete(s.versions, name)
		}
	}
	s.mgr.Apply(defs)
	return nil
}

// storeCheckpoint keeps window state in the store.
type storeCheckpoint struct{ db *store.DB }

func (c storeCheckpoint) LoadState(ctx context.Context, name string) (map[string][]byte, []byte, error) {
	return c.db.LoadStreamState(ctx, name)
}

func (c storeCheckpoint) SaveState(ctx context.Context, name string, keys map[string][]byte, meta []byte) error {
	if err := c.db.SaveStreamState(ctx, name, keys, meta); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
