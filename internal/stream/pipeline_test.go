package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/stream/broker"
	"github.com/sluicehq/sluice/internal/stream/brokertest"
	"github.com/sluicehq/sluice/internal/traffic"
	"github.com/twmb/franz-go/pkg/kfake"
)

// fixture is the breast_cancer model's data: rows as JSON objects with an
// id, and XGBoost's own predictions.
type fixture struct {
	rows     []map[string]any
	expected []float64
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	csv, err := os.ReadFile("../../examples/xgboost/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	cols := strings.Split(lines[0], ",")
	var fx fixture
	for i, l := range lines[1:] {
		row := map[string]any{"id": "row-" + strconv.Itoa(i)}
		for j, v := range strings.Split(l, ",") {
			x, _ := strconv.ParseFloat(v, 64)
			row[cols[j]] = x
		}
		fx.rows = append(fx.rows, row)
	}
	var exp struct {
		Predictions []float64 `json:"predictions"`
	}
	b, err := os.ReadFile("../../examples/xgboost/breast_cancer.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	fx.expected = exp.Predictions
	return fx
}

// newGateway serves breast_cancer as endpoint "bc", version 1.
func newGateway(t testing.TB, recent *monitor.Recent) *gateway.Gateway {
	t.Helper()
	data, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.New(gateway.Options{Recent: recent, Outcomes: monitor.NewOutcomes()})
	g.Swap(&gateway.Snapshot{Revision: 1, Endpoints: map[string]*gateway.Endpoint{
		"bc": {Name: "bc", Model: "bc", Plan: traffic.Single(1), Backends: map[int]*gateway.Backend{1: gateway.NewBackend("bc", 1, "xgboost", m, nil)}},
	}})
	return g
}

// memCheckpoint is a Checkpointer in memory.
type memCheckpoint struct {
	mu    sync.Mutex
	keys  map[string][]byte
	meta  []byte
	saves int
}

func (c *memCheckpoint) LoadState(ctx context.Context, stream string) (map[string][]byte, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range c.keys {
		out[k] = v
	}
	return out, c.meta, nil
}

func (c *memCheckpoint) SaveState(ctx context.Context, stream string, keys map[string][]byte, meta []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string][]byte{}
	}
	for k, v := range keys {
		if v == nil {
			delete(c.keys, k)
		} else {
			c.keys[k] = v
		}
	}
	c.meta = meta
	c.saves++
	return nil
}

// publishJSON publishes values to url.
func publish(t testing.TB, url string, values [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := broker.OpenSink(ctx, url, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := make([]broker.Record, len(values))
	for i, v := range values {
		recs[i] = broker.Record{Value: v, Key: []byte("k" + strconv.Itoa(i%7))}
	}
	if err := s.Publish(ctx, recs); err != nil {
		t.Fatal(err)
	}
}

// collect reads n messages from url (a fresh group), failing at the deadline.
func collect(t testing.TB, src broker.Source, n int, d time.Duration) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out [][]byte
	for len(out) < n {
		ms, err := src.Fetch(ctx, n-len(out), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("collecting results: got %d of %d: %v", len(out), n, err)
		}
		for _, m := range ms {
			out = append(out, m.Value)
		}
		if err := src.Ack(ctx, ms); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func collectMsgs(t testing.TB, src broker.Source, n int, d time.Duration) []*broker.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*broker.Message
	for len(out) < n {
		ms, err := src.Fetch(ctx, n-len(out), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("collecting: got %d of %d: %v", len(out), n, err)
		}
		out = append(out, ms...)
	}
	return out
}

func openReader(t testing.TB, url string) broker.Source {
	t.Helper()
	src, err := broker.OpenSource(context.Background(), url, broker.Options{Group: "reader-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// runPipeline starts a pipeline and waits until its connectors are open.
func runPipeline(t testing.TB, opts Options) (stop func() error) {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !p.Stats().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not connect in 20s: %s", p.Stats().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	var runErr error
	return func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
}

// TestPipelineScoresEveryConnector sends fixture rows and two bad messages
// through each connector: every row's result carries XGBoost's own
// prediction, its key and its request id; the bad ones are dead letters
// with their reason.
func TestPipelineScoresEveryConnector(t *testing.T) {
	fx := loadFixture(t)
	const n = 60
	for _, scheme := range []string{"nats", "kafka", "mqtt", "mqtt5"} {
		t.Run(scheme, func(t *testing.T) {
			src := brokertest.URL(t, scheme, "in")
			host := src[:strings.LastIndex(src, "/sluicetest_")+1]
			if scheme == "kafka" {
				host = src[:strings.Index(src[len("kafka://"):], "/")+len("kafka://")+1]
			}
			sink := host + brokertest.Topic(t, "out")
			dlq := host + brokertest.Topic(t, "dlq")
			outR, dlqR := openReader(t, sink), openReader(t, dlq)
			g := newGateway(t, monitor.NewRecent(1000, time.Hour))
			spec := Spec{Source: src, Endpoint: "bc", Sink: sink, DeadLetter: dlq, KeyField: "id", IDField: "id", BatchSize: 16}
			name := "bc-" + scheme + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
			stop := runPipeline(t, Options{Name: name, Spec: spec, Scorer: EndpointScorer{Gateway: g, Endpoint: "bc"}})
			defer stop()
			var msgs [][]byte
			for i := 0; i < n; i++ {
				b, _ := json.Marshal(fx.rows[i])
				msgs = append(msgs, b)
				if i == 10 {
					msgs = append(msgs, []byte(`{"id":"bad-json",`))
				}
				if i == 20 {
					msgs = append(msgs, []byte(`{"id":"bad-row","mean_radius":"big"}`))
				}
			}
			publish(t, src, msgs)
			got := collect(t, outR, n, 30*time.Second)
			seen := map[string]bool{}
			for _, b := range got {
				var o Output
				if err := json.Unmarshal(b, &o); err != nil {
					t.Fatalf("result %s: %v", b, err)
				}
				i, err := strconv.Atoi(strings.TrimPrefix(o.Key, "row-"))
				if err != nil {
					t.Fatalf("result key %q", o.Key)
				}
				var p float64
				if err := json.Unmarshal(o.Prediction, &p); err != nil {
					t.Fatalf("prediction %s: %v", o.Prediction, err)
				}
				if math.Abs(p-fx.expected[i]) > 1e-6 {
					t.Errorf("row %d: prediction %v, XGBoost says %v", i, p, fx.expected[i])
				}
				if o.ID != name+"-row-"+strconv.Itoa(i) || o.Version != 1 || o.Endpoint != "bc" || o.Stream != name {
					t.Errorf("row %d: result %+v", i, o)
				}
				seen[o.Key] = true
			}
			if len(seen) != n {
				t.Errorf("%d distinct results, want %d", len(seen), n)
			}
			dead := collect(t, dlqR, 2, 10*time.Second)
			reasons := ""
			for _, b := range dead {
				var d DeadLetter
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				reasons += d.Reason + "|" + d.Input + "\n"
			}
			for _, want := range []string{"want a field name in quotes", `mean_radius: want a number, got the string "big"`, `{"id":"bad-json",`} {
				if !strings.Contains(reasons, want) {
					t.Errorf("dead letters %q do not mention %q", reasons, want)
				}
			}
			if err := stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// slowSink is a Sink that blocks until released, counting what it got.
type slowSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
	calls   int
}

func (s *slowSink) Publish(ctx context.Context, recs []broker.Record) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.got += len(recs)
	s.mu.Unlock()
	return nil
}

func (s *slowSink) Close() error { return nil }

// countingSource hands out numbered messages as fast as asked.
type countingSource struct {
	mu      sync.Mutex
	fetched int
	acked   int
	row     []byte
}

func (s *countingSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]*broker.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*broker.Message, max)
	for i := range out {
		s.fetched++
		out[i] = &broker.Message{Value: s.row, ID: strconv.Itoa(s.fetched)}
	}
	return out, nil
}

func (s *countingSource) Ack(ctx context.Context, msgs []*broker.Message) error {
	s.mu.Lock()
	s.acked += len(msgs)
	s.mu.Unlock()
	return nil
}

func (s *countingSource) Lag() int64   { return -1 }
func (s *countingSource) Close() error { return nil }

// TestSlowSinkHoldsTheSource checks back-pressure: while the sink does not
// accept a batch, the source is not read further and nothing is acked.
func TestSlowSinkHoldsTheSource(t *testing.T) {
	fx := loadFixture(t)
	row, _ := json.Marshal(fx.rows[0])
	src := &countingSource{row: row}
	sink := &slowSink{release: make(chan struct{})}
	g := newGateway(t, nil)
	p, err := New(Options{Name: "slow", Spec: Spec{BatchSize: 8, Endpoint: "bc"}, Scorer: EndpointScorer{Gateway: g, Endpoint: "bc"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			msgs, _ := src.Fetch(ctx, 8, time.Second)
			if err := p.process(ctx, msgs, src, sink, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sink.mu.Lock()
		calls := sink.calls
		sink.mu.Unlock()
		if calls > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	src.mu.Lock()
	fetched, acked := src.fetched, src.acked
	src.mu.Unlock()
	if fetched != 8 || acked != 0 {
		t.Errorf("with the sink blocked: fetched %d, acked %d; want 8 fetched (one batch) and none acked", fetched, acked)
	}
	close(sink.release)
	deadline = time.Now().Add(5 * time.Second)
	for {
		src.mu.Lock()
		acked = src.acked
		src.mu.Unlock()
		if acked >= 80 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if acked < 80 {
		t.Errorf("after releasing the sink only %d messages were acknowledged", acked)
	}
}

// TestWindowedPipelineSurvivesRestart runs a windowed stream over NATS,
// stops it half way and starts a new pipeline: the per-card counts go on
// from the checkpoint rather than from zero.
func TestWindowedPipelineSurvivesRestart(t *testing.T) {
	fx := loadFixture(t)
	src := brokertest.URL(t, "nats", "win")
	host := src[:strings.LastIndex(src, "/")+1]
	sink := host + brokertest.Topic(t, "winout")
	outR := openReader(t, sink)
	g := newGateway(t, nil)
	cp := &memCheckpoint{}
	// The model's first two features become window aggregates: the count
	// of the card's transactions and their mean radius in the window.
	spec := Spec{Source: src, Endpoint: "bc", Sink: sink, KeyField: "card", IDField: "id", TimeField: "ts", BatchSize: 5,
		Window: &Window{Type: "tumbling", Size: Duration(time.Hour), Aggregates: []Aggregate{
			{Fn: "count", As: "n_tx"}, {Fn: "mean", Field: "mean_radius", As: "mean_texture"}}}}
	opts := Options{Name: "win", Spec: spec, Scorer: EndpointScorer{Gateway: g, Endpoint: "bc"}, Checkpoint: cp, AckWait: time.Second}
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	msg := func(i int) []byte {
		r := map[string]any{}
		for k, v := range fx.rows[i] {
			r[k] = v
		}
		r["card"] = "card-" + strconv.Itoa(i%3)
		r["ts"] = base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		b, _ := json.Marshal(r)
		return b
	}
	var first [][]byte
	for i := 0; i < 15; i++ {
		first = append(first, msg(i))
	}
	stop := runPipeline(t, opts)
	publish(t, src, first)
	got := collect(t, outR, 15, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var second [][]byte
	for i := 15; i < 30; i++ {
		second = append(second, msg(i))
	}
	publish(t, src, second)
	stop = runPipeline(t, opts)
	defer stop()
	got = append(got, collect(t, outR, 15, 20*time.Second)...)
	counts := map[string]float64{}
	for _, b := range got {
		var o Output
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(o.ID, "win-row-"))
		card := "card-" + strconv.Itoa(i%3)
		counts[card] = math.Max(counts[card], o.Window["n_tx"])
		wantN := float64(i/3 + 1)
		if o.Window["n_tx"] != wantN {
			t.Errorf("row %d (%s): n_tx = %v, want %v", i, card, o.Window["n_tx"], wantN)
		}
		var sum float64
		for j := i % 3; j <= i; j += 3 {
			sum += fx.rows[j]["mean_radius"].(float64)
		}
		if want := sum / wantN; math.Abs(o.Window["mean_texture"]-want) > 1e-9 {
			t.Errorf("row %d: mean = %v, want %v", i, o.Window["mean_texture"], want)
		}
	}
	if fmt.Sprint(counts) != "map[card-0:10 card-1:10 card-2:10]" {
		t.Errorf("final counts %v, want 10 per card", counts)
	}
	if cp.saves == 0 {
		t.Error("no checkpoint was saved")
	}
}

// TestKafkaGroupSharesPartitions runs two pipelines of one stream (two
// nodes) on a 4-partition topic: the consumer group splits the partitions,
// both score, and every input has a result.
func TestKafkaGroupSharesPartitions(t *testing.T) {
	fx := loadFixture(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "tx"), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := "kafka://" + c.ListenAddrs()[0] + "/"
	src, sink := host+"tx", host+"scored"
	outR := openReader(t, sink)
	g := newGateway(t, nil)
	spec := Spec{Source: src, Endpoint: "bc", Sink: sink, IDField: "id", BatchSize: 8}
	var pipes []*Pipeline
	for i := 0; i < 2; i++ {
		p, err := New(Options{Name: "shared", Spec: spec, Scorer: EndpointScorer{Gateway: g, Endpoint: "bc"}, ClientID: "node-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		defer func() { cancel(); <-done }()
	}
	for _, p := range pipes {
		deadline := time.Now().Add(20 * time.Second)
		for !p.Stats().Connected && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Publish rounds until both members have had work (the group needs a
	// rebalance after the second member joins), at most 20 s.
	n := 0
	deadline := time.Now().Add(20 * time.Second)
	for n < 200 || (pipes[0].Stats().In == 0 || pipes[1].Stats().In == 0) && time.Now().Before(deadline) {
		var msgs [][]byte
		for i := n; i < n+50; i++ {
			r := map[string]any{}
			for k, v := range fx.rows[i%len(fx.rows)] {
				r[k] = v
			}
			r["id"] = "m" + strconv.Itoa(i)
			b, _ := json.Marshal(r)
			msgs = append(msgs, b)
		}
		publish(t, src, msgs)
		n += 50
		time.Sleep(100 * time.Millisecond)
	}
	got := collect(t, outR, n, 30*time.Second)
	ids := map[string]bool{}
	for _, b := range got {
		var o Output
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		ids[o.ID] = true
	}
	if len(ids) < n {
		// Duplicates are allowed (at least once); missing ones are not.
		got = append(got, collect(t, outR, n-len(ids), 10*time.Second)...)
	}
	probe := openReader(t, src)
	parts := map[string]int{}
	for _, b := range collectMsgs(t, probe, n, 10*time.Second) {
		parts[b.ID[:strings.LastIndex(b.ID, "/")]]++
	}
	t.Logf("input partitions %v", parts)
	a, b := pipes[0].Stats().Out, pipes[1].Stats().Out
	if a == 0 || b == 0 {
		t.Errorf("results per node %d and %d: want the group to share the partitions", a, b)
	}
	t.Logf("node 0 scored %d, node 1 scored %d", a, b)
}
