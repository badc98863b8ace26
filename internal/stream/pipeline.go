package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/stream/broker"
)

// Scorer scores a pipeline's rows: an endpoint through its traffic plan,
// or one model version.
type Scorer interface {
	// Features returns the named-feature input the model takes.
	Features(ctx context.Context) (inference.TensorSpec, error)
	// Score returns one result per row.
	Score(ctx context.Context, rows gateway.Rows) ([]gateway.RowResult, error)
	// Target names what scores, for the output message ("fraud").
	Target() string
}

// Checkpointer keeps a windowed pipeline's state, so it survives a
// restart. The control plane implements it over the store.
type Checkpointer interface {
	// LoadState returns the saved state of every key and the pipeline's
	// own record.
	LoadState(ctx context.Context, stream string) (keys map[string][]byte, meta []byte, err error)
	// SaveState writes changed keys (a nil value deletes the key) and the
	// pipeline's record, in one transaction.
	SaveState(ctx context.Context, stream string, keys map[string][]byte, meta []byte) error
}

// Options configure a Pipeline.
type Options struct {
	// Name is the stream's name: the consumer group and the prefix of
	// request ids.
	Name string
	// Spec is what the pipeline does; it must be valid.
	Spec Spec
	// Scorer scores the rows.
	Scorer Scorer
	// Checkpoint keeps window state; required when Spec.Window is set.
	Checkpoint Checkpointer
	// Metrics receives the pipeline's counters; nil counts only in Stats.
	Metrics *Metrics
	// Logger receives problems; nil discards them.
	Logger *slog.Logger
	// ClientID names the pipeline's broker connections.
	ClientID string
	// AckWait is how long the broker waits before delivering an
	// unacknowledged message again (JetStream); 0 means 30s.
	AckWait time.Duration
	// DrainTimeout bounds how long a stopping pipeline works on to finish
	// the batch under way; 0 means 10s.
	DrainTimeout time.Duration
	// RetryBackoff is the first wait before retrying a batch whose sink or
	// model failed; it doubles up to 30 times as much. 0 means 200ms.
	RetryBackoff time.Duration
}

// Stats are a pipeline's counters.
type Stats struct {
	// In counts messages read, Out results published, DeadLettered
	// messages sent to the dead letter sink (or dropped without one), and
	// Retries batches tried again after a failure.
	In, Out, DeadLettered, Retries uint64
	// Lag is the number of messages waiting in the source as last seen,
	// -1 when the broker does not tell.
	Lag int64
	// LastError is the most recent failure, "" after a success.
	LastError string
	// Connected is true once the source and sinks are open.
	Connected bool
}

// Pipeline reads a source, optionally windows, scores and publishes, until
// its context ends.
type Pipeline struct {
	opts   Options
	spec   *Spec
	log    *slog.Logger
	m      *pipelineMetrics
	ws     *windows
	seen   *idRing // ids of messages already added to the windows
	delim  rune
	format string
	// fieldBuf and instBuf are decoding storage reused from message to
	// message (prepare runs on one goroutine).
	fieldBuf []field
	instBuf  []instance

	in, out, dead, retries atomic.Uint64
	lag                    atomic.Int64
	connected              atomic.Bool
	lastErr                atomic.Pointer[string]
}

// New checks opts and returns a pipeline; Run starts it.
func New(opts Options) (*Pipeline, error) {
	if opts.Scorer == nil {
		return nil, errors.New("stream pipeline: no scorer")
	}
	if opts.Spec.Window != nil && opts.Checkpoint == nil {
		return nil, errors.New("stream pipeline: a windowed stream needs a checkpoint store")
	}
	p := &Pipeline{opts: opts, spec: &opts.Spec, log: opts.Logger, delim: ',', format: "json"}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("stream", opts.Name)
	if d := opts.Spec.Decode; d != nil {
		if d.Format != "" {
			p.format = d.Format
		}
		if d.Delimiter != "" {
			p.delim = []rune(d.Delimiter)[0]
		}
	}
	if opts.Spec.Window != nil {
		p.ws = newWindows(opts.Spec.Window)
		p.seen = newIDRing(4 * opts.Spec.batchSize())
	}
	if opts.RetryBackoff <= 0 {
		p.opts.RetryBackoff = 200 * time.Millisecond
	}
	if opts.DrainTimeout <= 0 {
		p.opts.DrainTimeout = 10 * time.Second
	}
	p.m = opts.Metrics.forStream(opts.Name)
	p.lag.Store(-1)
	return p, nil
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() Stats {
	s := Stats{In: p.in.Load(), Out: p.out.Load(), DeadLettered: p.dead.Load(), Retries: p.retries.Load(), Lag: p.lag.Load(), Connected: p.connected.Load()}
	if e := p.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

func (p *Pipeline) setErr(err error) {
	s := ""
	if err != nil {
		s = err.Error()
	}
	p.lastErr.Store(&s)
}

// Run opens the connectors and processes batches until ctx ends (nil) or
// a connector fails for good (an error; the caller starts over).
func (p *Pipeline) Run(ctx context.Context) error {
	bo := broker.Options{Group: "sluice-" + p.opts.Name, ClientID: p.opts.ClientID, InFlight: 2 * p.spec.batchSize(), AckWait: p.opts.AckWait}
	if p.ws != nil {
		if err := p.restore(ctx); err != nil {
			return err
		}
	}
	src, err := broker.OpenSource(ctx, p.spec.Source, bo)
	if err != nil {
		return fmt.Errorf("stream %s: source: %w", p.opts.Name, err)
	}
	defer src.Close()
	sink, err := broker.OpenSink(ctx, p.spec.Sink, bo)
	if err != nil {
		return fmt.Errorf("stream %s: sink: %w", p.opts.Name, err)
	}
	defer sink.Close()
	var dlq broker.Sink
	if p.spec.DeadLetter != "" {
		if dlq, err = broker.OpenSink(ctx, p.spec.DeadLetter, bo); err != nil {
			return fmt.Errorf("stream %s: dead letter sink: %w", p.opts.Name, err)
		}
		defer dlq.Close()
	}
	p.connected.Store(true)
	defer p.connected.Store(false)
	p.log.Info("stream pipeline running", "source", redact(p.spec.Source), "sink", redact(p.spec.Sink), "target", p.opts.Scorer.Target())
	// A batch under way when ctx ends is finished (published, checkpointed,
	// acknowledged) within DrainTimeout rather than abandoned, so a
	// graceful stop replays nothing.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(p.opts.DrainTimeout, cancelWork) })
	defer stopDrain()
	// One batch is fetched ahead while the previous one is processed, so
	// the broker's round trip overlaps the scoring: at most two batches
	// are in flight.
	batches := make(chan fetched) // unbuffered: the batch in the fetcher's hand is the one ahead
	fctx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	go func() {
		for {
			msgs, err := src.Fetch(fctx, p.spec.batchSize(), time.Second)
			select {
			case batches <- fetched{msgs, err}:
			case <-fctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	lastExpire := time.Now()
	for {
		var f fetched
		select {
		case <-ctx.Done():
			return nil
		case f = <-batches:
		}
		msgs, err := f.msgs, f.err
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.setErr(err)
			return fmt.Errorf("stream %s: %w", p.opts.Name, err)
		}
		if lag := src.Lag(); lag >= 0 || p.lag.Load() >= 0 {
			p.lag.Store(lag)
			p.m.lag(lag)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := p.process(work, msgs, src, sink, dlq); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.setErr(err)
			return fmt.Errorf("stream %s: %w", p.opts.Name, err)
		}
		if p.ws != nil && time.Since(lastExpire) > time.Minute {
			lastExpire = time.Now()
			for _, k := range p.ws.expire() {
				p.ws.dirty[k] = true
			}
		}
	}
}

// fetched is one Fetch's result.
type fetched struct {
	msgs []*broker.Message
	err  error
}

// item is one instance of a batch on its way to the sink.
type item struct {
	msg   *broker.Message
	rid   string
	key   string
	at    time.Time // event time
	win   []float64 // window aggregates, nil without a window
	row   int       // index in the scored rows; -1 when dead
	cause error     // why it is dead
}

// process handles one fetched batch: decode, window, score, publish, then
// acknowledge. It returns only when every message is published (or dead
// lettered) and acknowledged, or with an error when a connector fails;
// a model or sink failure is retried with backoff meanwhile, so a slow or
// failing sink holds the batch, and the source is not read further.
func (p *Pipeline) process(ctx context.Context, msgs []*broker.Message, src broker.Source, sink, dlq broker.Sink) error {
	p.in.Add(uint64(len(msgs)))
	p.m.in.Add(float64(len(msgs)))
	var spec inference.TensorSpec
	var err error
	for attempt := 0; ; attempt++ {
		if spec, err = p.opts.Scorer.Features(ctx); err == nil {
			break
		}
		if werr := p.wait(ctx, attempt, fmt.Errorf("scoring with %s: %w", p.opts.Scorer.Target(), err)); werr != nil {
			return werr
		}
	}
	items, rows := p.prepare(msgs, spec)
	var results []gateway.RowResult
	for attempt := 0; ; attempt++ {
		results, err = p.opts.Scorer.Score(ctx, rows)
		if err == nil {
			err = retryable(results)
		}
		if err == nil {
			break
		}
		if werr := p.wait(ctx, attempt, fmt.Errorf("scoring with %s: %w", p.opts.Scorer.Target(), err)); werr != nil {
			return werr
		}
	}
	out := make([]broker.Record, 0, len(items))
	var dead []broker.Record
	for i := range items {
		it := &items[i]
		if it.row >= 0 && results[it.row].Err != nil {
			it.cause = results[it.row].Err
			it.row = -1
		}
		if it.row < 0 {
			dead = append(dead, p.deadLetter(it))
			continue
		}
		out = append(out, p.result(it, &results[it.row]))
	}
	for attempt := 0; ; attempt++ {
		if err = sink.Publish(ctx, out); err == nil {
			break
		}
		if werr := p.wait(ctx, attempt, err); werr != nil {
			return werr
		}
	}
	if len(dead) > 0 && dlq != nil {
		for attempt := 0; ; attempt++ {
			if err = dlq.Publish(ctx, dead); err == nil {
				break
			}
			if werr := p.wait(ctx, attempt, fmt.Errorf("dead letter sink: %w", err)); werr != nil {
				return werr
			}
		}
	}
	if len(dead) > 0 {
		for _, d := range dead {
			p.log.Debug("dead letter", "reason", d.Headers["reason"])
		}
	}
	if p.ws != nil {
		if err := p.checkpoint(ctx); err != nil {
			return err
		}
	}
	if err := src.Ack(ctx, msgs); err != nil {
		return err
	}
	now := time.Now()
	for i := range items {
		if items[i].row >= 0 && !items[i].at.IsZero() {
			p.m.latency.Observe(now.Sub(items[i].at).Seconds())
		}
	}
	p.out.Add(uint64(len(out)))
	p.m.out.Add(float64(len(out)))
	p.dead.Add(uint64(len(dead)))
	p.m.dead.Add(float64(len(dead)))
	p.setErr(nil)
	return nil
}

// retryable returns the first failure of a row that is not the row's own
// fault (a model outage, a timeout); such a batch is scored again rather
// than dead lettered.
func retryable(results []gateway.RowResult) error {
	for _, r := range results {
		var ie *inference.InputError
		if r.Err != nil && !errors.As(r.Err, &ie) && !isInputMessage(r.Err) {
			return r.Err
		}
	}
	return nil
}

// isInputMessage recognises the gateway's row errors that are the row's
// own fault.
func isInputMessage(err error) bool {
	var re *gateway.RowError
	return errors.As(err, &re) && re.InputFault()
}

// wait records a failure and sleeps before the next attempt.
func (p *Pipeline) wait(ctx context.Context, attempt int, err error) error {
	p.setErr(err)
	p.retries.Add(1)
	p.m.retries.Inc()
	d := p.opts.RetryBackoff << min(attempt, 5)
	if attempt == 0 || attempt%10 == 0 {
		p.log.Warn("stream batch failed; retrying", "attempt", attempt+1, "wait", d, "err", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// prepare decodes the messages, applies the window and builds the rows.
func (p *Pipeline) prepare(msgs []*broker.Message, spec inference.TensorSpec) ([]item, gateway.Rows) {
	nf := len(spec.Features)
	index := make(map[string]int, nf)
	for j, f := range spec.Features {
		index[f.Name] = j
	}
	var aggIndex []int // model column of each aggregate, -1 when the model does not take it
	if p.ws != nil {
		for _, a := range p.spec.Window.Aggregates {
			j, ok := index[a.As]
			if !ok {
				j = -1
			}
			aggIndex = append(aggIndex, j)
		}
	}
	seen := make([]bool, nf)
	items := make([]item, 0, len(msgs))
	rows := gateway.Rows{IDs: make([]string, 0, len(msgs)), Keys: make([]string, 0, len(msgs)), X: make([]float64, 0, len(msgs)*nf)}
	for _, m := range msgs {
		var insts []instance
		var err error
		if p.format == "csv" {
			insts, err = decodeCSV(m.Value, p.spec.Decode.Columns, p.delim)
		} else {
			insts, err = decodeJSONInto(m.Value, p.fieldBuf, p.instBuf)
			if err == nil && len(insts) > 0 {
				// Keep the (possibly grown) storage for the next message.
				p.instBuf = insts[:0]
				last := insts[len(insts)-1].fields
				p.fieldBuf = last[:0:cap(last)]
				if len(insts) > 1 {
					p.fieldBuf = nil
				}
			}
		}
		mid := messageID(m)
		if err != nil {
			items = append(items, item{msg: m, rid: p.opts.Name + "-" + mid, key: string(m.Key), row: -1, cause: err})
			continue
		}
		for k := range insts {
			in := &insts[k]
			it := item{msg: m, key: string(m.Key), at: m.Time, row: -1}
			id := mid
			if p.spec.IDField != "" {
				if f, ok := in.get(p.spec.IDField); ok && f.text() != "" {
					id = f.text()
				}
			}
			if len(insts) > 1 {
				id += "." + strconv.Itoa(k)
			}
			it.rid = p.opts.Name + "-" + id
			if len(it.rid) > 128 {
				it.rid = p.opts.Name + "-" + hashID([]byte(id))
			}
			if p.spec.KeyField != "" {
				if f, ok := in.get(p.spec.KeyField); ok {
					it.key = f.text()
				}
			}
			if p.spec.TimeField != "" {
				t, err := eventTime(in, p.spec.TimeField)
				if err != nil {
					it.cause = err
					items = append(items, it)
					continue
				}
				it.at = t
			}
			if it.at.IsZero() {
				it.at = time.Now()
			}
			// The row is built in place at the end of rows.X and cut off
			// again if the instance turns out dead.
			base := len(rows.X)
			rows.X = append(rows.X, make([]float64, nf)...)
			x := rows.X[base:]
			for j := range x {
				x[j] = math.NaN()
			}
			bad := error(nil)
			clear(seen)
			for fi := range in.fields {
				f := &in.fields[fi]
				j, ok := index[string(f.name)]
				if !ok {
					continue
				}
				if seen[j] {
					bad = decodeErr(string(f.name), "field given twice")
					break
				}
				seen[j] = true
				if x[j], err = f.number(string(f.name)); err != nil {
					bad = err
					break
				}
			}
			if bad == nil && p.ws != nil {
				it.win, bad = p.window(in, &it, id)
				for a, j := range aggIndex {
					if j >= 0 && bad == nil {
						x[j] = it.win[a]
					}
				}
			}
			if bad == nil && !spec.AllowMissing {
				for j, v := range x {
					if math.IsNaN(v) {
						bad = decodeErr(spec.Features[j].Name, "missing feature: the model does not accept missing values")
						break
					}
				}
			}
			if bad != nil {
				rows.X = rows.X[:base]
				it.cause = bad
				items = append(items, it)
				continue
			}
			it.row = len(rows.IDs)
			rows.IDs = append(rows.IDs, it.rid)
			rows.Keys = append(rows.Keys, it.key)
			items = append(items, it)
		}
	}
	return items, rows
}

// window adds an instance to its key's window and returns the aggregates.
func (p *Pipeline) window(in *instance, it *item, id string) ([]float64, error) {
	key := it.key
	if by := p.spec.Window.KeyBy; by != "" {
		f, ok := in.get(by)
		if !ok || f.text() == "" {
			return nil, decodeErr(by, "missing: the window is keyed by it")
		}
		key = f.text()
	}
	vals := make([]float64, len(p.ws.fields))
	for j, name := range p.ws.fields {
		vals[j] = math.NaN()
		if f, ok := in.get(name); ok {
			v, err := f.number(name)
			if err != nil {
				return nil, err
			}
			vals[j] = v
		}
	}
	apply := !p.seen.has(id)
	agg, err := p.ws.add(key, it.at, vals, apply)
	if err == nil && apply {
		p.seen.add(id)
	}
	return agg, err
}

// eventTime reads the event time field: RFC 3339 text, or a Unix time in
// seconds, milliseconds, microseconds or nanoseconds by its magnitude.
func eventTime(in *instance, name string) (time.Time, error) {
	f, ok := in.get(name)
	if !ok || f.kind == kindNull {
		return time.Time{}, decodeErr(name, "missing event time")
	}
	switch f.kind {
	case kindString:
		t, err := time.Parse(time.RFC3339Nano, string(f.raw))
		if err != nil {
			return time.Time{}, decodeErr(name, "want an RFC 3339 time or a Unix time, got %q", f.raw)
		}
		return t, nil
	case kindNumber:
		v := f.num
		switch a := math.Abs(v); {
		case a < 1e11:
			return time.Unix(0, int64(v*1e9)), nil
		case a < 1e14:
			return time.UnixMilli(int64(v)), nil
		case a < 1e17:
			return time.UnixMicro(int64(v)), nil
		default:
			return time.Unix(0, int64(v)), nil
		}
	}
	return time.Time{}, decodeErr(name, "want a time")
}

// messageID identifies a message: its broker position, or a hash of its
// content when the broker gives none (MQTT).
func messageID(m *broker.Message) string {
	if m.ID != "" {
		return m.ID
	}
	return hashID(m.Value)
}

func hashID(b []byte) string {
	h := fnv.New128a()
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Output is the message published for each scored instance.
type Output struct {
	// ID is the request id: feedback for this prediction names it.
	ID string `json:"id"`
	// Key is the input's key.
	Key string `json:"key,omitempty"`
	// Stream, Endpoint (or model) and Version say who answered; Role is
	// the version's role in the endpoint's plan.
	Stream   string `json:"stream"`
	Endpoint string `json:"endpoint,omitempty"`
	Model    string `json:"model,omitempty"`
	Version  int    `json:"version"`
	Role     string `json:"role,omitempty"`
	// Prediction is the model's output for the instance: a number, or an
	// array (one value per class).
	Prediction json.RawMessage `json:"prediction"`
	// EventTime is the input's event time.
	EventTime time.Time `json:"eventTime"`
	// Window holds the window aggregates given to the model.
	Window map[string]float64 `json:"window,omitempty"`
}

// result encodes the Output of one instance. It is written by hand (the
// Output struct documents the shape and is what consumers decode into):
// this is the per-message hot path.
func (p *Pipeline) result(it *item, r *gateway.RowResult) broker.Record {
	b := make([]byte, 0, 256)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, it.rid)
	if it.key != "" {
		b = append(b, `,"key":`...)
		b = appendJSONString(b, it.key)
	}
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, p.opts.Name)
	if p.spec.Endpoint != "" {
		b = append(b, `,"endpoint":`...)
		b = appendJSONString(b, p.spec.Endpoint)
	} else {
		b = append(b, `,"model":`...)
		b = appendJSONString(b, p.opts.Scorer.Target())
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	if r.Role != "" {
		b = append(b, `,"role":`...)
		b = appendJSONString(b, r.Role)
	}
	b = append(b, `,"prediction":`...)
	b = appendValues(b, r.Values)
	b = append(b, `,"eventTime":"`...)
	b = it.at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if it.win != nil {
		b = append(b, `,"window":{`...)
		first := true
		for i, a := range p.spec.Window.Aggregates {
			v := it.win[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, a.As)
			b = append(b, ':')
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	return broker.Record{Key: []byte(it.key), Value: b, ID: it.rid}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendValues(b []byte, vs []float64) []byte {
	num := func(b []byte, v float64) []byte {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	if len(vs) == 1 {
		return num(b, vs[0])
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = num(b, v)
	}
	return append(b, ']')
}

// DeadLetter is the message published to the dead letter sink.
type DeadLetter struct {
	// Stream that gave up on the message, and why.
	Stream string `json:"stream"`
	Reason string `json:"reason"`
	// ID is the request id the instance would have had; Key its key.
	ID  string `json:"id"`
	Key string `json:"key,omitempty"`
	// Topic is where the message came from and Position its place there.
	Topic    string `json:"topic,omitempty"`
	Position string `json:"position,omitempty"`
	// Input is the message as received (text; invalid UTF-8 is replaced).
	Input string `json:"input"`
}

func (p *Pipeline) deadLetter(it *item) broker.Record {
	reason := "unknown"
	if it.cause != nil {
		reason = it.cause.Error()
	}
	d := DeadLetter{Stream: p.opts.Name, Reason: reason, ID: it.rid, Key: it.key, Topic: it.msg.Topic, Position: it.msg.ID, Input: string(it.msg.Value)}
	b, _ := json.Marshal(d)
	return broker.Record{Key: it.msg.Key, Value: b, ID: "dlq-" + it.rid, Headers: map[string]string{"reason": truncate(reason, 200)}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// redact drops the userinfo of a broker URL for logs.
func redact(u string) string {
	if a, err := broker.Parse(u); err == nil && a.User != "" {
		return a.Scheme + "://…@" + a.Hosts[0] + "/" + a.Topic
	}
	return u
}

// checkpoint stores the keys changed by the batch and the ids applied.
func (p *Pipeline) checkpoint(ctx context.Context) error {
	keys, err := p.ws.changes()
	if err != nil {
		return err
	}
	meta, err := json.Marshal(checkpointMeta{Seen: p.seen.list()})
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if err = p.opts.Checkpoint.SaveState(ctx, p.opts.Name, keys, meta); err == nil {
			return nil
		}
		if werr := p.wait(ctx, attempt, fmt.Errorf("saving window state: %w", err)); werr != nil {
			return werr
		}
	}
}

// checkpointMeta is the pipeline's own checkpoint record.
type checkpointMeta struct {
	// Seen are the ids of the latest messages added to the windows, so a
	// replay after a crash between the checkpoint and the ack does not add
	// them twice.
	Seen []string `json:"seen"`
}

func (p *Pipeline) restore(ctx context.Context) error {
	keys, meta, err := p.opts.Checkpoint.LoadState(ctx, p.opts.Name)
	if err != nil {
		return fmt.Errorf("stream %s: loading window state: %w", p.opts.Name, err)
	}
	if err := p.ws.restore(keys); err != nil {
		return fmt.Errorf("stream %s: %w", p.opts.Name, err)
	}
	if len(meta) > 0 {
		var m checkpointMeta
		if err := json.Unmarshal(meta, &m); err != nil {
			return fmt.Errorf("stream %s: decoding checkpoint: %w", p.opts.Name, err)
		}
		for _, id := range m.Seen {
			p.seen.add(id)
		}
	}
	return nil
}

// idRing remembers the last n ids.
type idRing struct {
	ids  []string
	next int
	set  map[string]struct{}
}

func newIDRing(n int) *idRing {
	return &idRing{ids: make([]string, 0, n), set: make(map[string]struct{}, n)}
}

func (r *idRing) has(id string) bool { _, ok := r.set[id]; return ok }

func (r *idRing) add(id string) {
	if _, ok := r.set[id]; ok {
		return
	}
	if len(r.ids) < cap(r.ids) {
		r.ids = append(r.ids, id)
	} else {
		delete(r.set, r.ids[r.next])
		r.ids[r.next] = id
		r.next = (r.next + 1) % len(r.ids)
	}
	r.set[id] = struct{}{}
}

func (r *idRing) list() []string {
	out := make([]string, 0, len(r.ids))
	out = append(out, r.ids[r.next:]...)
	return append(out, r.ids[:r.next]...)
}
