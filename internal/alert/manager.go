package alert

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

// Sample is one series' current value.
type Sample struct {
	Metric string
	Labels map[string]string
	Value  float64
}

// Source returns the current samples at now.
type Source func(now time.Time) []Sample

// State of an alert.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Alert is one instance of a rule: one series whose value held the rule's
// condition.
type Alert struct {
	Rule        string            `json:"rule"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Value is the series' value at the last evaluation that held.
	Value float64 `json:"value"`
	// ActiveAt is when the condition started holding; FiredAt when the
	// alert fired; ResolvedAt when it stopped.
	ActiveAt   time.Time `json:"active_at"`
	FiredAt    time.Time `json:"fired_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// UpdatedAt is the last evaluation that saw it.
	UpdatedAt   time.Time `json:"updated_at"`
	Fingerprint string    `json:"fingerprint"`
}

// Options configure a Manager.
type Options struct {
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
	// ExternalURL is this server's URL, for links in notifications.
	ExternalURL string
	// Client sends notifications; nil means a client with no global
	// timeout (each webhook has its own).
	Client *http.Client
}

// Manager evaluates rules and keeps the alerts' states.
type Manager struct {
	cfg  Config
	src  Source
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	alerts map[string]*Alert // by fingerprint; pending and firing; guarded by mu

	queue     chan notification
	dropped   atomic.Int64
	delivered atomic.Int64
	failed    atomic.Int64
}

// notification is one delivery: alerts of one rule that fired or resolved.
type notification struct {
	status string
	rule   string
	alerts []Alert
}

// NewManager returns a manager for cfg reading samples from src.
func NewManager(cfg Config, src Source, opts Options) *Manager {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if cfg.Interval == 0 {
		cfg.Interval = traffic.Duration(DefaultInterval)
	}
	return &Manager{cfg: cfg, src: src, opts: opts, log: log, alerts: map[string]*Alert{}, queue: make(chan notification, 256)}
}

// fingerprint identifies an alert by its labels.
func fingerprint(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Eval evaluates every rule at now and returns the alerts that fired and
// those that resolved in this evaluation.
func (m *Manager) Eval(now time.Time) (fired, resolved []Alert) {
	samples := m.src(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for i := range m.cfg.Rules {
		r := &m.cfg.Rules[i]
		for _, s := range samples {
			if s.Metric != r.Metric || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || !r.matches(s.Labels) || !r.holds(s.Value) {
				continue
			}
			labels := map[string]string{"alertname": r.Name}
			maps.Copy(labels, s.Labels)
			maps.Copy(labels, r.Labels)
			fp := fingerprint(labels)
			seen[fp] = true
			a := m.alerts[fp]
			if a == nil {
				a = &Alert{Rule: r.Name, State: StatePending, Labels: labels, ActiveAt: now, Fingerprint: fp}
				m.alerts[fp] = a
			}
			a.Value, a.UpdatedAt = s.Value, now
			a.Annotations = expand(r.Annotations, s.Value, labels)
			if a.State == StatePending && now.Sub(a.ActiveAt) >= time.Duration(r.For) {
				a.State, a.FiredAt = StateFiring, now
				fired = append(fired, a.clone())
			}
		}
	}
	for fp, a := range m.alerts {
		if seen[fp] {
			continue
		}
		if a.State == StateFiring {
			a.State, a.ResolvedAt, a.UpdatedAt = StateResolved, now, now
			resolved = append(resolved, a.clone())
		}
		delete(m.alerts, fp)
	}
	sortAlerts(fired)
	sortAlerts(resolved)
	return fired, resolved
}

func (a *Alert) clone() Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	return c
}

func sortAlerts(as []Alert) {
	slices.SortFunc(as, func(a, b Alert) int {
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
}

// expand replaces {{ $value }} and {{ $labels.NAME }} in annotations.
func expand(in map[string]string, value float64, labels map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		v = strings.ReplaceAll(v, "{{ $value }}", strconv.FormatFloat(value, 'g', 4, 64))
		v = strings.ReplaceAll(v, "{{$value}}", strconv.FormatFloat(value, 'g', 4, 64))
		for lk, lv := range labels {
			v = strings.ReplaceAll(v, "{{ $labels."+lk+" }}", lv)
			v = strings.ReplaceAll(v, "{{$labels."+lk+"}}", lv)
		}
		out[k] = v
	}
	return out
}

// Alerts returns the pending and firing alerts, state "" for both.
func (m *Manager) Alerts(state string) []Alert {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, a := range m.alerts {
		if state == "" || a.State == state {
			out = append(out, a.clone())
		}
	}
	sortAlerts(out)
	return out
}

// SetExternalURL sets the server URL used in notification links; call it
// before Run.
func (m *Manager) SetExternalURL(u string) { m.opts.ExternalURL = u }

// Rules returns the configured rules.
func (m *Manager) Rules() []Rule { return m.cfg.Rules }

// Interval returns the evaluation interval.
func (m *Manager) Interval() time.Duration { return time.Duration(m.cfg.Interval) }

// Stats returns the notification counters: delivered, failed after every
// attempt, and dropped because the queue was full.
func (m *Manager) Stats() (delivered, failed, dropped int64) {
	return m.delivered.Load(), m.failed.Load(), m.dropped.Load()
}

// Run evaluates the rules every interval and delivers notifications until
// ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.deliverLoop(ctx)
	}()
	t := time.NewTicker(time.Duration(m.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case now := <-t.C:
			m.evalAndNotify(ctx, now)
		}
	}
}

// evalAndNotify runs one evaluation and queues its notifications.
func (m *Manager) evalAndNotify(ctx context.Context, now time.Time) {
	fired, resolved := m.Eval(now)
	for _, group := range groupByRule(fired) {
		m.enqueue(notification{status: StateFiring, rule: group[0].Rule, alerts: group})
	}
	for _, group := range groupByRule(resolved) {
		m.enqueue(notification{status: StateResolved, rule: group[0].Rule, alerts: group})
	}
	if len(m.cfg.Alertmanagers) > 0 {
		all := append(m.Alerts(StateFiring), resolved...)
		if len(all) > 0 {
			m.enqueue(notification{status: "alertmanager", alerts: all})
		}
	}
}

func groupByRule(as []Alert) [][]Alert {
	var out [][]Alert
	for i := 0; i < len(as); {
		j := i
		for j < len(as) && as[j].Rule == as[i].Rule {
			j++
		}
		out = append(out, as[i:j])
		i = j
	}
	return out
}

func (m *Manager) enqueue(n notification) {
	select {
	case m.queue <- n:
	default:
		m.dropped.Add(1)
		m.log.Warn("alert notification dropped: the delivery queue is full", "rule", n.rule, "status", n.status)
	}
}
