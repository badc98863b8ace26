package stream

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Definition is a stream the Manager should run.
type Definition struct {
	Name string
	Spec Spec
	// Generation changes whenever the stored stream changes; a running
	// pipeline of another generation is restarted.
	Generation int64
	// Scorer scores the stream's rows.
	Scorer Scorer
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Logger     *slog.Logger
	Metrics    *Metrics
	Checkpoint Checkpointer
	// ClientID names the broker connections (the node's name).
	ClientID string
	// AckWait is the pipelines' broker ack wait; 0 means 30s.
	AckWait time.Duration
	// RestartBackoff is the first wait before restarting a failed
	// pipeline; it doubles up to a minute. 0 means 1s.
	RestartBackoff time.Duration
}

// Manager runs the pipelines of the streams given to Apply, restarting a
// pipeline that fails, until Run's context ends.
type Manager struct {
	opts ManagerOptions
	log  *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run
	running map[string]*runner
	wg      sync.WaitGroup
}

// runner is one running stream.
type runner struct {
	def    Definition
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	p        *Pipeline
	restarts int
	lastErr  string
	started  time.Time
}

// Status is what a node knows of a stream it runs.
type Status struct {
	// Running is true while this node runs the stream's pipeline.
	Running bool `json:"running"`
	// Generation is the stream generation being run.
	Generation int64 `json:"generation"`
	// Restarts counts the pipeline's restarts after failures.
	Restarts int `json:"restarts"`
	// Since is when the pipeline last started.
	Since time.Time `json:"since"`
	// In, Out, DeadLettered, Retries and Lag are the pipeline's counters.
	In           uint64 `json:"in"`
	Out          uint64 `json:"out"`
	DeadLettered uint64 `json:"deadLettered"`
	Retries      uint64 `json:"retries"`
	Lag          int64  `json:"lag"`
	// LastError is the latest failure, "" while all is well.
	LastError string `json:"lastError,omitempty"`
}

// NewManager returns a Manager; call Run, then Apply.
func NewManager(opts ManagerOptions) *Manager {
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, log: log, running: map[string]*runner{}}
}

// Run keeps the pipelines running until ctx ends, then stops them and
// waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	for name, r := range m.running {
		r.cancel()
		delete(m.running, name)
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Apply makes the running pipelines those of defs that are not paused:
// it starts new ones, restarts changed ones and stops the others. Before
// Run it does nothing.
func (m *Manager) Apply(defs []Definition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	want := map[string]Definition{}
	for _, d := range defs {
		if !d.Spec.Paused {
			want[d.Name] = d
		}
	}
	for name, r := range m.running {
		if d, ok := want[name]; !ok || d.Generation != r.def.Generation {
			r.cancel()
			<-r.done
			delete(m.running, name)
			if !ok {
				m.opts.Metrics.Forget(name)
			}
		}
	}
	for name, d := range want {
		if _, ok := m.running[name]; !ok {
			m.start(d)
		}
	}
}

// Status returns what this node knows of a stream; false when it does not
// run it.
func (m *Manager) Status(name string) (Status, bool) {
	m.mu.Lock()
	r := m.running[name]
	m.mu.Unlock()
	if r == nil {
		return Status{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Running: true, Generation: r.def.Generation, Restarts: r.restarts, Since: r.started, LastError: r.lastErr, Lag: -1}
	if r.p != nil {
		st := r.p.Stats()
		s.In, s.Out, s.DeadLettered, s.Retries, s.Lag = st.In, st.Out, st.DeadLettered, st.Retries, st.Lag
		if st.LastError != "" {
			s.LastError = st.LastError
		}
	}
	return s, true
}

func (m *Manager) start(d Definition) {
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runner{def: d, cancel: cancel, done: make(chan struct{})}
	m.running[d.Name] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(r.done)
		m.loop(ctx, r)
	}()
}

// loop runs a stream's pipeline, starting it over after a failure.
func (m *Manager) loop(ctx context.Context, r *runner) {
	backoff := m.opts.RestartBackoff
	for ctx.Err() == nil {
		p, err := New(Options{Name: r.def.Name, Spec: r.def.Spec, Scorer: r.def.Scorer, Checkpoint: m.opts.Checkpoint,
			Metrics: m.opts.Metrics, Logger: m.log, ClientID: m.opts.ClientID, AckWait: m.opts.AckWait})
		if err == nil {
			r.mu.Lock()
			r.p, r.started = p, time.Now()
			r.mu.Unlock()
			start := time.Now()
			err = p.Run(ctx)
			if time.Since(start) > time.Minute {
				backoff = m.opts.RestartBackoff
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.log.Error("stream pipeline failed; restarting", "stream", r.def.Name, "err", err, "wait", backoff)
			r.mu.Lock()
			r.restarts++
			r.lastErr = err.Error()
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}
