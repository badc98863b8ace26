package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/audit"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/traffic"
)

// ErrNotActive is returned for an action a rollout in its phase cannot take.
var ErrNotActive = errors.New("rollout is not in a phase that allows this")

// Options configure a Controller.
type Options struct {
	Logger *slog.Logger
	// Tick is how often the controller looks at active rollouts; default 1s.
	Tick time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Controller drives rollouts: it applies their steps to their endpoints,
// judges the candidate, and promotes or rolls back. Every transition is one
// transaction (rollout state and endpoint spec together) guarded by the
// rollout's generation, so several nodes may run a controller over one
// store and each transition still happens once.
type Controller struct {
	db     *store.DB
	reg    *registry.Service
	src    Source
	log    *slog.Logger
	tick   time.Duration
	now    func() time.Time
	notify *notifier
	limits map[string]*limitState // per rollout; only the goroutine calling Reconcile uses it
}

// New returns a controller over a registry and the monitors it reads.
func New(reg *registry.Service, src Source, opts Options) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Controller{db: reg.Store(), reg: reg, src: src, log: opts.Logger, tick: opts.Tick, now: opts.Now,
		notify: newNotifier(opts.Logger), limits: map[string]*limitState{}}
}

// Run drives every active rollout until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	ctx = audit.WithActor(ctx, controllerActor) // what the controller changes on its own is its own doing
	go c.notify.run(ctx)
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for {
		c.Reconcile(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Reconcile moves every active rollout on by at most one transition.
func (c *Controller) Reconcile(ctx context.Context) {
	ros, err := c.db.ListRollouts(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("listing rollouts", "err", err)
		}
		return
	}
	for _, ro := range ros {
		if Phase(ro.Phase).Final() {
			delete(c.limits, ro.Name)
			continue
		}
		if err := c.reconcileOne(ctx, ro); err != nil && !errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
			c.log.Warn("rollout", "rollout", ro.Name, "err", err)
		}
	}
}

// state is a decoded rollout.
type state struct {
	ro   store.Rollout
	spec Spec
	st   Status
}

func decode(ro store.Rollout) (*state, error) {
	s := &state{ro: ro}
	if err := json.Unmarshal(ro.Spec, &s.spec); err != nil {
		return nil, fmt.Errorf("rollout %s: decoding spec: %w", ro.Name, err)
	}
	if err := json.Unmarshal(ro.Status, &s.st); err != nil {
		return nil, fmt.Errorf("rollout %s: decoding status: %w", ro.Name, err)
	}
	return s, nil
}

// transition is one change of a rollout.
type transition struct {
	events   []store.RolloutEvent
	endpoint func(*registry.EndpointSpec) error
	spec     *Spec
}

func (t *transition) event(kind, format string, args ...any) {
	t.events = append(t.events, store.RolloutEvent{Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// write stores s.st (and the endpoint change) if the rollout is still at
// the generation s was read at.
func (c *Controller) write(ctx context.Context, s *state, t *transition, actor string) error {
	status, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	w := store.RolloutWrite{Generation: s.ro.Generation, Status: status, Phase: string(s.st.Phase)}
	if t.spec != nil {
		if w.Spec, err = json.Marshal(t.spec); err != nil {
			return err
		}
	}
	for i := range t.events {
		if t.events[i].Actor == "" {
			t.events[i].Actor = actor
		}
	}
	w.Events = t.events
	if t.endpoint != nil {
		w.Endpoint = c.reg.EndpointChange(ctx, s.spec.Endpoint, t.endpoint)
	}
	ro, _, err := c.db.WriteRollout(ctx, s.ro.Name, w)
	if err != nil {
		return err
	}
	s.ro = ro
	if t.endpoint != nil {
		if err := c.reg.Sync(ctx); err != nil {
			c.log.Error("rebuilding routing table after a rollout transition", "rollout", ro.Name, "err", err)
		}
	}
	for _, ev := range t.events {
		c.log.Info("rollout "+ev.Kind, "rollout", ro.Name, "endpoint", s.spec.Endpoint, "msg", ev.Message)
		c.notify.send(s.spec.Notifications, notice{Rollout: ro.Name, Endpoint: s.spec.Endpoint, Event: ev.Kind, Phase: s.st.Phase,
			Step: s.st.Step, Stable: s.st.Stable, Candidate: s.st.Candidate, Weight: s.st.Weight, Message: ev.Message, Time: c.now().UTC()})
	}
	return nil
}

const controllerActor = "rollout-controller"

func (c *Controller) reconcileOne(ctx context.Context, ro store.Rollout) error {
	s, err := decode(ro)
	if err != nil {
		return err
	}
	now := c.now().UTC()
	switch s.st.Phase {
	case Pending:
		return c.start(ctx, s, now)
	case AwaitingApproval:
		return c.awaitApproval(ctx, s, now)
	case Progressing:
		return c.progress(ctx, s, now)
	}
	return nil // Paused waits for a person
}

// awaitApproval starts a rollout whose approval request was approved and
// ends one whose request was rejected; a pending request keeps it waiting.
func (c *Controller) awaitApproval(ctx context.Context, s *state, now time.Time) error {
	ap, err := c.reg.Approval(ctx, s.st.Approval)
	if err != nil {
		return fmt.Errorf("reading approval %s: %w", s.st.Approval, err)
	}
	switch ap.Status {
	case store.ApprovalApproved:
		return c.start(ctx, s, now)
	case store.ApprovalRejected:
		s.st.Phase, s.st.FinishedAt = Aborted, now
		s.st.Message = fmt.Sprintf("approval %s rejected by %s: %s", ap.ID, ap.DecidedBy, ap.Reason)
		t := &transition{}
		t.event("rejected", "%s", s.st.Message)
		return c.write(ctx, s, t, ap.DecidedBy)
	}
	return nil
}

// start resolves the versions, remembers the endpoint's spec, supersedes
// any other active rollout of the endpoint, loads the candidate and enters
// the first step.
func (c *Controller) start(ctx context.Context, s *state, now time.Time) error {
	ep, err := c.reg.GetEndpoint(ctx, s.spec.Endpoint)
	if err != nil {
		return c.fail(ctx, s, now, fmt.Sprintf("endpoint %s: %v", s.spec.Endpoint, err), true)
	}
	cand, err := c.db.ResolveVersion(ctx, ep.Spec.Model, s.spec.Candidate)
	if err != nil {
		return c.fail(ctx, s, now, fmt.Sprintf("candidate %q of model %s: %v", s.spec.Candidate, ep.Spec.Model, err), true)
	}
	original, err := json.Marshal(ep.Spec)
	if err != nil {
		return err
	}
	stable := s.spec.Stable
	var superseded []*state
	others, err := c.db.ListRollouts(ctx, s.spec.Endpoint)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.Name == s.ro.Name || Phase(o.Phase).Final() {
			continue
		}
		os, err := decode(o)
		if err != nil {
			return err
		}
		if os.st.Phase == Pending {
			continue // it has changed nothing yet; it will supersede us or be superseded when it starts
		}
		superseded = append(superseded, os)
		if len(os.st.Original) > 0 {
			original = os.st.Original // the spec from before any rollout
		}
		if stable == 0 {
			stable = os.st.Stable
		}
	}
	if stable == 0 {
		if stable = servingVersion(ep); stable == 0 {
			return c.fail(ctx, s, now, "the endpoint serves no single stable version; give spec.stable", true)
		}
	}
	if stable == cand.Version {
		return c.fail(ctx, s, now, fmt.Sprintf("candidate and stable are both version %d", stable), true)
	}
	if _, err := c.db.GetVersion(ctx, ep.Spec.Model, stable); err != nil {
		return c.fail(ctx, s, now, fmt.Sprintf("stable version %d: %v", stable, err), true)
	}
	approved := s.st.Phase == AwaitingApproval // and approved: awaitApproval checked
	var gates []GateResult
	if approved {
		gates = s.st.Gates // run before the request; the approver saw them
	} else if s.spec.Gates != nil {
		if gates, err = c.runGates(ctx, s.spec.Gates, ep.Spec.Model, stable, cand.Version); err != nil {
			return err
		}
		if err := c.recordGates(ctx, s, ep.Spec.Model, cand.Version, gates, now); err != nil {
			return err
		}
		var failed []string
		for _, g := range gates {
			if !g.Passed {
				failed = append(failed, g.Gate+": "+g.Message)
			}
		}
		if len(failed) > 0 {
			s.st = Status{Phase: Blocked, Stable: stable, Candidate: cand.Version, Gates: gates, FinishedAt: now,
				Message: "blocked by pre-deployment gates: " + strings.Join(failed, "; ")}
			t := &transition{}
			t.event("blocked", "%s", s.st.Message)
			return c.write(ctx, s, t, controllerActor)
		}
	}
	if !approved && ep.Spec.NeedsApproval() {
		return c.requestApproval(ctx, s, ep, stable, cand.Version, gates, now)
	}
	approval := s.st.Approval
	for _, os := range superseded {
		os.st.Phase, os.st.Message, os.st.FinishedAt = Superseded, "superseded by rollout "+s.ro.Name, now
		t := &transition{}
		t.event("superseded", "rollout %s of version %d takes over the endpoint", s.ro.Name, cand.Version)
		if err := c.write(ctx, os, t, controllerActor); err != nil {
			return err
		}
	}
	s.st = Status{Phase: Progressing, Stable: stable, Candidate: cand.Version, Original: original, StartedAt: now, StepStarted: now, Gates: gates, Approval: approval}
	s.st.StartMark = c.src.Observe(s.spec.Endpoint, stable, cand.Version, now)
	s.st.StepMark = s.st.StartMark
	s.st.Mode = "canary"
	if s.spec.hasSwitch() {
		s.st.Mode = "preview"
	}
	t := &transition{endpoint: c.policy(s)}
	if len(gates) > 0 {
		t.event("gates", "all %d pre-deployment gates passed", len(gates))
	}
	t.event("started", "rolling out version %d over stable version %d (%d steps)", cand.Version, stable, len(s.spec.Steps))
	return c.write(ctx, s, t, controllerActor)
}

// requestApproval asks for a second person's approval of the rollout, in
// the name of whoever created it (so that person cannot approve it), and
// parks the rollout in AwaitingApproval. Nothing has changed on the
// endpoint yet.
func (c *Controller) requestApproval(ctx context.Context, s *state, ep registry.Endpoint, stable, cand int, gates []GateResult, now time.Time) error {
	requester := s.ro.CreatedBy
	if requester == "" {
		requester = controllerActor
	}
	summary := fmt.Sprintf("rollout %s: model %s version %d over stable version %d on endpoint %s (%d steps)",
		s.ro.Name, ep.Spec.Model, cand, stable, ep.Name, len(s.spec.Steps))
	ap, err := c.reg.RequestApproval(audit.WithActor(ctx, requester), "rollout/"+s.ro.Name, summary)
	if err != nil {
		return fmt.Errorf("asking for approval: %w", err)
	}
	s.st = Status{Phase: AwaitingApproval, Stable: stable, Candidate: cand, Gates: gates, Approval: ap.ID,
		Message: fmt.Sprintf("endpoint %s needs approval: waiting for approval %s (sluice approve %s --reason ...)", ep.Name, ap.ID, ap.ID)}
	t := &transition{}
	t.event("awaiting-approval", "approval %s requested for %s by %s", ap.ID, s.ro.Name, requester)
	return c.write(ctx, s, t, controllerActor)
}

func servingVersion(ep registry.Endpoint) int {
	if ep.Spec.Traffic == nil {
		return ep.ServingVersion
	}
	p := ep.Spec.Traffic
	switch {
	case p.BlueGreen != nil:
		return p.BlueGreen.Active
	case len(p.Split) > 0:
		best := p.Split[0]
		for _, sp := range p.Split[1:] {
			if sp.Weight > best.Weight {
				best = sp
			}
		}
		return best.Version
	}
	return 0
}

func (s *Spec) hasSwitch() bool {
	for _, st := range s.Steps {
		if st.Switch != nil {
			return true
		}
	}
	return false
}

// policy returns the endpoint change that puts traffic where the rollout's
// status says it is.
func (c *Controller) policy(s *state) func(*registry.EndpointSpec) error {
	st, spec := s.st, s.spec
	return func(ep *registry.EndpointSpec) error {
		var p traffic.Policy
		switch st.Mode {
		case "preview":
			p.BlueGreen = &traffic.BlueGreen{Active: st.Stable, Preview: st.Candidate}
		case "switched":
			keep := traffic.Duration(time.Hour)
			if sw := spec.switchStep(); sw != nil && sw.KeepPrevious > 0 {
				keep = sw.KeepPrevious
			}
			p.BlueGreen = &traffic.BlueGreen{Active: st.Candidate, Previous: st.Stable, KeepPrevious: keep}
		case "mirror":
			p.Split = []traffic.Split{{Version: st.Stable, Weight: 100}}
			pct := 100.0
			if step := spec.step(st.Step); step != nil && step.Mirror != nil {
				pct = step.Mirror.Percent
			}
			p.Shadow = []traffic.Shadow{{Version: st.Candidate, Percent: pct}}
		case "challenge":
			p.Split = []traffic.Split{{Version: st.Stable, Weight: 100}}
			p.Challengers = []int{st.Candidate}
		case "bandit":
			b := spec.step(st.Step).Bandit
			p.Bandit = &traffic.Bandit{Algorithm: b.Algorithm, Arms: []int{st.Stable, st.Candidate}, MinShare: b.MinShare, Reward: b.Reward}
		default: // canary
			p.Split = weights(st.Stable, st.Candidate, st.Weight)
			if spec.Sticky != nil {
				sticky := *spec.Sticky
				p.Sticky = &sticky
			}
		}
		ep.Traffic = &p
		ep.Rolling = nil
		return nil
	}
}

// weights expresses a candidate share in percent as integer split weights
// (hundredths of a percent).
func weights(stable, cand int, pct float64) []traffic.Split {
	w := int(pct*100 + 0.5)
	return []traffic.Split{{Version: stable, Weight: 10000 - w}, {Version: cand, Weight: w}}
}

func (s *Spec) step(i int) *Step {
	if i < 0 || i >= len(s.Steps) {
		return nil
	}
	return &s.Steps[i]
}

func (s *Spec) switchStep() *SwitchStep {
	for _, st := range s.Steps {
		if st.Switch != nil {
			return st.Switch
		}
	}
	return nil
}

// progress checks the candidate and runs the current step.
func (c *Controller) progress(ctx context.Context, s *state, now time.Time) error {
	ep, err := c.reg.GetEndpoint(ctx, s.spec.Endpoint)
	if err != nil {
		return c.fail(ctx, s, now, fmt.Sprintf("endpoint %s: %v", s.spec.Endpoint, err), true)
	}
	// A candidate given as an alias that moved: start over with the new
	// version; the old candidate's analysis says nothing about it.
	if _, err := strconv.Atoi(s.spec.Candidate); err != nil {
		if v, err := c.db.ResolveVersion(ctx, ep.Spec.Model, s.spec.Candidate); err == nil && v.Version != s.st.Candidate {
			return c.restart(ctx, s, now, fmt.Sprintf("candidate %q moved from version %d to %d: starting over", s.spec.Candidate, s.st.Candidate, v.Version))
		}
	}
	cur := c.src.Observe(s.spec.Endpoint, s.st.Stable, s.st.Candidate, now)
	if reason := c.checkLimits(s, cur, now); reason != "" {
		return c.fail(ctx, s, now, reason, false)
	}
	if s.spec.background() && s.st.Mode != "preview" && s.st.Step > 0 {
		d := cur.since(s.st.StartMark)
		res, verdict := evaluate(s.spec.metrics(nil), d, c.baseline(s, d), s.spec.alpha())
		if verdict == analysis.Fail {
			s.st.Background = res
			return c.fail(ctx, s, now, "background analysis failed: "+failures(res), false)
		}
		if now.Sub(s.st.LastAnalysis) >= s.spec.interval() {
			s.st.Background = res // persisted with the next transition or evaluation
		}
	}
	step := s.spec.step(s.st.Step)
	if step == nil {
		return c.promote(ctx, s, now, "", "all steps passed")
	}
	elapsed := now.Sub(s.st.StepStarted)
	switch {
	case step.SetWeight != nil:
		s.st.Weight, s.st.Mode = *step.SetWeight, "canary"
		t := &transition{endpoint: c.policy(s)}
		t.event("step", "step %d/%d: candidate weight %s%%", s.st.Step+1, len(s.spec.Steps), strconv.FormatFloat(s.st.Weight, 'f', -1, 64))
		c.advance(s, cur, now)
		return c.write(ctx, s, t, controllerActor)
	case step.Switch != nil:
		s.st.Mode, s.st.Weight = "switched", 100
		s.st.SwitchMark = cur
		t := &transition{endpoint: c.policy(s)}
		t.event("step", "step %d/%d: switched: version %d is active, version %d stays loaded", s.st.Step+1, len(s.spec.Steps), s.st.Candidate, s.st.Stable)
		c.advance(s, cur, now)
		return c.write(ctx, s, t, controllerActor)
	case step.Pause != nil:
		if step.Pause.Duration == 0 {
			s.st.Phase, s.st.Message = Paused, fmt.Sprintf("step %d/%d: waiting for `sluice rollout promote %s`", s.st.Step+1, len(s.spec.Steps), s.ro.Name)
			t := &transition{}
			t.event("paused", "%s", s.st.Message)
			return c.write(ctx, s, t, controllerActor)
		}
		if elapsed < time.Duration(step.Pause.Duration) {
			return nil
		}
		t := &transition{}
		t.event("step", "step %d/%d: pause of %s over", s.st.Step+1, len(s.spec.Steps), step.Pause.Duration)
		c.advance(s, cur, now)
		return c.write(ctx, s, t, controllerActor)
	}
	// An analysis step (analysis, mirror, challenge, bandit).
	a := step.analysisStep()
	if mode := stepMode(step); mode != s.st.Mode && mode != "" {
		s.st.Mode = mode
		if mode != "canary" {
			s.st.Weight = 0
		}
		s.st.StepMark, s.st.StepStarted, s.st.LastAnalysis, s.st.Analysis = cur, now, time.Time{}, nil
		t := &transition{endpoint: c.policy(s)}
		t.event("step", "step %d/%d: %s", s.st.Step+1, len(s.spec.Steps), step.Describe())
		return c.write(ctx, s, t, controllerActor)
	}
	if now.Sub(s.st.LastAnalysis) < s.spec.interval() && elapsed < time.Duration(a.Duration) {
		return nil
	}
	d := cur.since(s.st.StepMark)
	res, verdict := evaluate(s.spec.metrics(a.Metrics), d, c.baseline(s, d), s.spec.alpha())
	s.st.Analysis, s.st.Verdict, s.st.LastAnalysis = res, verdict, now
	t := &transition{}
	switch {
	case verdict == analysis.Fail:
		return c.fail(ctx, s, now, fmt.Sprintf("step %d/%d analysis failed: %s", s.st.Step+1, len(s.spec.Steps), failures(res)), false)
	case verdict == analysis.Pass && elapsed >= time.Duration(a.MinDuration):
		t.event("analysis", "step %d/%d analysis passed: %s", s.st.Step+1, len(s.spec.Steps), summary(res))
		c.advance(s, cur, now)
	case elapsed >= time.Duration(a.Duration):
		switch s.spec.inconclusive() {
		case "pass":
			t.event("analysis", "step %d/%d analysis inconclusive after %s; passing as configured: %s", s.st.Step+1, len(s.spec.Steps), a.Duration, summary(res))
			c.advance(s, cur, now)
		case "fail":
			return c.fail(ctx, s, now, fmt.Sprintf("step %d/%d analysis inconclusive after %s (configured to fail): %s", s.st.Step+1, len(s.spec.Steps), a.Duration, summary(res)), false)
		default:
			s.st.Phase = Paused
			s.st.Message = fmt.Sprintf("step %d/%d analysis inconclusive after %s: %s; promote or abort", s.st.Step+1, len(s.spec.Steps), a.Duration, summary(res))
			t.event("paused", "%s", s.st.Message)
		}
	}
	return c.write(ctx, s, t, controllerActor)
}

// stepMode is the traffic mode an analysis step needs; "" keeps the
// current one (a plain analysis step judges whatever traffic runs).
func stepMode(st *Step) string {
	switch {
	case st.Mirror != nil:
		return "mirror"
	case st.Challenge != nil:
		return "challenge"
	case st.Bandit != nil:
		return "bandit"
	}
	return ""
}

// baseline is stable's counts to judge the candidate against: those of
// the window, or, when stable answers nothing now (after a blue-green
// switch), those from the start of the rollout to the switch.
func (c *Controller) baseline(s *state, d *Mark) VersionMark {
	if s.st.Mode == "switched" && s.st.SwitchMark != nil && d.Stable.Requests == 0 {
		return s.st.SwitchMark.since(s.st.StartMark).Stable
	}
	if s.st.Mode == "mirror" || s.st.Mode == "challenge" {
		return d.Stable
	}
	return d.Stable
}

// advance enters the next step.
func (c *Controller) advance(s *state, cur *Mark, now time.Time) {
	s.st.Step++
	s.st.StepStarted, s.st.StepMark, s.st.LastAnalysis = now, cur, time.Time{}
	s.st.Message = ""
	if next := s.spec.step(s.st.Step); next != nil {
		s.st.Message = fmt.Sprintf("step %d/%d: %s", s.st.Step+1, len(s.spec.Steps), next.Describe())
	}
}

// limitState is what hard-limit checks remember between two looks: the
// counters at the last look and since when a limit has been exceeded. It
// lives in memory: after a restart the monitors start from zero too.
type limitState struct {
	mark  *Mark
	since time.Time
}

// checkLimits returns why a hard limit tripped, or "". Each look judges the
// candidate's requests since the previous look; a limit trips when every
// look with enough requests over its For duration exceeded it.
func (c *Controller) checkLimits(s *state, cur *Mark, now time.Time) string {
	if len(s.spec.HardLimits) == 0 {
		return ""
	}
	ls := c.limits[s.ro.Name]
	if ls == nil {
		c.limits[s.ro.Name] = &limitState{mark: cur}
		return ""
	}
	d := cur.since(ls.mark)
	over, enough := "", false
	for _, l := range s.spec.HardLimits {
		min := l.MinSamples
		if min == 0 {
			min = defaultLimitN
		}
		if d.Candidate.Requests < min {
			continue
		}
		enough = true
		var v float64
		switch l.Metric {
		case MetricErrorRate:
			v = float64(d.Candidate.Errors) / float64(d.Candidate.Requests)
		case MetricLatency:
			q := l.Quantile
			if q == 0 {
				q = 0.99
			}
			v = analysis.Quantile(monitor.LatencyBuckets, padded(d.Candidate.Latency), q)
		}
		if v > l.Above {
			if ls.since.IsZero() {
				ls.since = now
			}
			if now.Sub(ls.since) >= time.Duration(l.For) {
				return fmt.Sprintf("hard limit: candidate %s %.4g over %.4g for %s (%d requests in the last look)", l.Metric, v, l.Above, now.Sub(ls.since).Round(time.Second), d.Candidate.Requests)
			}
			over = l.Metric
		}
	}
	if enough {
		ls.mark = cur
		if over == "" {
			ls.since = time.Time{}
		}
	}
	return ""
}

// fail handles a failed candidate per onFailure. early is a failure before
// the rollout changed any traffic: it only ends the rollout.
func (c *Controller) fail(ctx context.Context, s *state, now time.Time, reason string, early bool) error {
	t := &transition{}
	s.st.Verdict = analysis.Fail
	if early {
		s.st.Phase, s.st.Message, s.st.FinishedAt = RolledBack, reason, now
		t.event("rolledBack", "%s", reason)
		return c.write(ctx, s, t, controllerActor)
	}
	if s.spec.OnFailure == "pause" {
		s.st.Phase, s.st.Failed, s.st.Message = Paused, true, reason+"; traffic frozen (onFailure: pause): resume, promote or abort"
		t.event("paused", "%s", s.st.Message)
		return c.write(ctx, s, t, controllerActor)
	}
	s.st.Phase, s.st.Message, s.st.FinishedAt, s.st.Weight = RolledBack, reason+fmt.Sprintf("; all traffic back to version %d", s.st.Stable), now, 0
	t.endpoint = c.restoreStable(s)
	t.event("rolledBack", "%s", s.st.Message)
	return c.write(ctx, s, t, controllerActor)
}

// restoreStable returns the endpoint change back to before the rollout: the
// original spec, or stable alone if that no longer validates.
func (c *Controller) restoreStable(s *state) func(*registry.EndpointSpec) error {
	orig, stable := s.st.Original, s.st.Stable
	return func(ep *registry.EndpointSpec) error {
		var o registry.EndpointSpec
		if len(orig) > 0 && json.Unmarshal(orig, &o) == nil && o.Model == ep.Model && o.Validate() == nil {
			*ep = o
			return nil
		}
		ep.Traffic = &traffic.Policy{Split: []traffic.Split{{Version: stable, Weight: 1}}}
		ep.Rolling = nil
		return nil
	}
}

// promote sends all traffic to the candidate and ends the rollout.
func (c *Controller) promote(ctx context.Context, s *state, now time.Time, actor, reason string) error {
	if actor == "" {
		actor = controllerActor
	}
	if s.spec.Promotion != nil && s.spec.Promotion.SetAlias != "" {
		ep, err := c.reg.GetEndpoint(ctx, s.spec.Endpoint)
		if err != nil {
			return err
		}
		if _, err := c.reg.SetAlias(ctx, ep.Spec.Model, s.spec.Promotion.SetAlias, s.st.Candidate, actor); err != nil {
			return fmt.Errorf("promotion: moving alias %s: %w", s.spec.Promotion.SetAlias, err)
		}
	}
	cand := s.st.Candidate
	s.st.Phase, s.st.Weight, s.st.FinishedAt, s.st.Message = Promoted, 100, now, fmt.Sprintf("version %d promoted: %s", cand, reason)
	t := &transition{endpoint: func(ep *registry.EndpointSpec) error {
		ep.Version, ep.Traffic, ep.Rolling = strconv.Itoa(cand), nil, nil
		return nil
	}}
	t.event("promoted", "%s", s.st.Message)
	return c.write(ctx, s, t, actor)
}

// restart begins the rollout again from its first step, traffic back on
// stable first.
func (c *Controller) restart(ctx context.Context, s *state, now time.Time, why string) error {
	orig, stable := s.st.Original, s.st.Stable
	s.st = Status{Phase: Pending, Message: why, Original: orig}
	t := &transition{endpoint: c.restoreStable(&state{st: Status{Original: orig, Stable: stable}})}
	if len(orig) == 0 {
		t.endpoint = nil
	}
	t.event("restarted", "%s", why)
	return c.write(ctx, s, t, controllerActor)
}

func failures(res []analysis.Result) string {
	var b []string
	for _, r := range res {
		if r.Decision == analysis.Fail {
			b = append(b, r.Metric+": "+r.Reason)
		}
	}
	return strings.Join(b, "; ")
}

func summary(res []analysis.Result) string {
	var b []string
	for _, r := range res {
		b = append(b, fmt.Sprintf("%s %s", r.Metric, r.Decision))
	}
	return strings.Join(b, ", ")
}

// Apply creates a rollout or changes its spec. An unchanged spec changes
// nothing. A changed spec of an active rollout starts it over (its old
// analysis says nothing about the new candidate); a finished rollout given
// a new spec runs again. created reports whether the rollout is new.
func (c *Controller) Apply(ctx context.Context, doc Document, actor string) (out Document, created bool, err error) {
	doc.APIVersion, doc.Kind = orDefault(doc.APIVersion, APIVersion), orDefault(doc.Kind, Kind)
	if err := doc.Validate(); err != nil {
		return Document{}, false, err
	}
	if _, err := c.reg.GetEndpoint(ctx, doc.Spec.Endpoint); err != nil {
		return Document{}, false, fmt.Errorf("spec.endpoint: %w", err)
	}
	raw, err := json.Marshal(doc.Spec)
	if err != nil {
		return Document{}, false, err
	}
	cur, err := c.db.GetRollout(ctx, doc.Metadata.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		st, _ := json.Marshal(Status{Phase: Pending, Message: "waiting for the controller"})
		ro, err := c.db.CreateRollout(ctx, store.Rollout{Name: doc.Metadata.Name, Endpoint: doc.Spec.Endpoint, Spec: raw, Status: st, Phase: string(Pending), CreatedBy: actor},
			[]store.RolloutEvent{{Kind: "created", Message: fmt.Sprintf("created for endpoint %s, candidate %s", doc.Spec.Endpoint, doc.Spec.Candidate), Actor: actor}})
		if err != nil {
			return Document{}, false, err
		}
		out, err := toDocument(ro)
		return out, true, err
	case err != nil:
		return Document{}, false, err
	}
	s, err := decode(cur)
	if err != nil {
		return Document{}, false, err
	}
	if s.spec.Endpoint != doc.Spec.Endpoint {
		return Document{}, false, fmt.Errorf("%w: spec.endpoint: a rollout cannot move to another endpoint (%s to %s); create a new rollout", ErrInvalid, s.spec.Endpoint, doc.Spec.Endpoint)
	}
	if reflect.DeepEqual(s.spec, doc.Spec) {
		out, err := toDocument(cur)
		return out, false, err
	}
	t := &transition{spec: &doc.Spec}
	orig := s.st.Original
	if s.st.Phase.Final() {
		s.st = Status{Phase: Pending, Message: "spec changed: running again"}
		t.event("restarted", "spec changed: running again with candidate %s", doc.Spec.Candidate)
	} else {
		if len(orig) > 0 {
			t.endpoint = c.restoreStable(&state{st: Status{Original: orig, Stable: s.st.Stable}})
		}
		s.st = Status{Phase: Pending, Message: "spec changed: starting over", Original: orig}
		t.event("restarted", "spec changed: starting over with candidate %s; the earlier analysis is discarded", doc.Spec.Candidate)
	}
	s.spec = doc.Spec
	if err := c.write(ctx, s, t, actor); err != nil {
		return Document{}, false, err
	}
	out, err = toDocument(s.ro)
	return out, false, err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func toDocument(ro store.Rollout) (Document, error) {
	s, err := decode(ro)
	if err != nil {
		return Document{}, err
	}
	st := s.st
	return Document{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: ro.Name}, Spec: s.spec, Status: &st}, nil
}

// Get returns a rollout and its events.
func (c *Controller) Get(ctx context.Context, name string) (Document, []store.RolloutEvent, error) {
	ro, err := c.db.GetRollout(ctx, name)
	if err != nil {
		return Document{}, nil, err
	}
	doc, err := toDocument(ro)
	if err != nil {
		return Document{}, nil, err
	}
	evs, err := c.db.RolloutEvents(ctx, name, 0)
	return doc, evs, err
}

// List returns every rollout, or an endpoint's.
func (c *Controller) List(ctx context.Context, endpoint string) ([]Document, error) {
	ros, err := c.db.ListRollouts(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	out := make([]Document, 0, len(ros))
	for _, ro := range ros {
		d, err := toDocument(ro)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Delete removes a finished rollout; an active one must be aborted first.
func (c *Controller) Delete(ctx context.Context, name string) error {
	ro, err := c.db.GetRollout(ctx, name)
	if err != nil {
		return err
	}
	if !Phase(ro.Phase).Final() && Phase(ro.Phase) != Pending {
		return fmt.Errorf("%w: rollout %s is %s: abort it first", ErrNotActive, name, ro.Phase)
	}
	return c.db.DeleteRollout(ctx, name)
}

// act runs a person's action on a rollout, retrying if the controller
// moved it meanwhile.
func (c *Controller) act(ctx context.Context, name string, fn func(s *state, now time.Time) (*transition, error), actor string) (Document, error) {
	for attempt := 0; ; attempt++ {
		ro, err := c.db.GetRollout(ctx, name)
		if err != nil {
			return Document{}, err
		}
		s, err := decode(ro)
		if err != nil {
			return Document{}, err
		}
		t, err := fn(s, c.now().UTC())
		if err != nil {
			return Document{}, err
		}
		if t == nil {
			return toDocument(s.ro)
		}
		err = c.write(ctx, s, t, actor)
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return Document{}, err
		}
		return toDocument(s.ro)
	}
}

// Promote moves a paused rollout past its pause (a pause step waiting for
// promote, or an inconclusive analysis). With skipAnalysis it promotes the
// candidate at once, from any active phase: an emergency roll-forward,
// recorded with its reason.
func (c *Controller) Promote(ctx context.Context, name string, skipAnalysis bool, reason, actor string) (Document, error) {
	if skipAnalysis && strings.TrimSpace(reason) == "" {
		return Document{}, fmt.Errorf("%w: reason: promoting without analysis needs a reason", ErrInvalid)
	}
	return c.act(ctx, name, func(s *state, now time.Time) (*transition, error) {
		switch {
		case s.st.Phase.Final() || s.st.Phase == Pending || s.st.Phase == AwaitingApproval:
			return nil, fmt.Errorf("%w: rollout %s is %s", ErrNotActive, name, s.st.Phase)
		case skipAnalysis:
			cand := s.st.Candidate
			s.st.Phase, s.st.Weight, s.st.FinishedAt = Promoted, 100, now
			s.st.Message = fmt.Sprintf("version %d promoted by %s without analysis: %s", cand, actor, reason)
			if s.spec.Promotion != nil && s.spec.Promotion.SetAlias != "" {
				ep, err := c.reg.GetEndpoint(ctx, s.spec.Endpoint)
				if err != nil {
					return nil, err
				}
				if _, err := c.reg.SetAlias(ctx, ep.Spec.Model, s.spec.Promotion.SetAlias, cand, actor); err != nil {
					return nil, err
				}
			}
			t := &transition{endpoint: func(ep *registry.EndpointSpec) error {
				ep.Version, ep.Traffic, ep.Rolling = strconv.Itoa(cand), nil, nil
				return nil
			}}
			t.events = append(t.events, store.RolloutEvent{Kind: "promoted", Message: s.st.Message,
				Data: mustJSON(map[string]any{"skipAnalysis": true, "reason": reason})})
			return t, nil
		case s.st.Phase != Paused:
			return nil, fmt.Errorf("%w: rollout %s is %s, not waiting for promotion; use --skip-analysis --reason to promote now", ErrNotActive, name, s.st.Phase)
		}
		cur := c.src.Observe(s.spec.Endpoint, s.st.Stable, s.st.Candidate, now)
		t := &transition{}
		t.event("resumed", "promoted past step %d/%d by %s", s.st.Step+1, len(s.spec.Steps), actor)
		s.st.Phase, s.st.Failed, s.st.PausedAt = Progressing, false, time.Time{}
		c.advance(s, cur, now)
		return t, nil
	}, actor)
}

// Abort stops a rollout and sends all traffic back to stable.
func (c *Controller) Abort(ctx context.Context, name, reason, actor string) (Document, error) {
	return c.act(ctx, name, func(s *state, now time.Time) (*transition, error) {
		if s.st.Phase.Final() {
			return nil, fmt.Errorf("%w: rollout %s is already %s", ErrNotActive, name, s.st.Phase)
		}
		t := &transition{}
		if len(s.st.Original) > 0 {
			t.endpoint = c.restoreStable(s)
		}
		msg := fmt.Sprintf("aborted by %s", actor)
		if reason != "" {
			msg += ": " + reason
		}
		if s.st.Stable != 0 {
			msg += fmt.Sprintf("; all traffic back to version %d", s.st.Stable)
		}
		s.st.Phase, s.st.Message, s.st.FinishedAt, s.st.Weight = Aborted, msg, now, 0
		t.event("aborted", "%s", msg)
		return t, nil
	}, actor)
}

// Pause freezes a progressing rollout: traffic stays, steps and analysis
// wait, and the step's clock stops until Resume.
func (c *Controller) Pause(ctx context.Context, name, actor string) (Document, error) {
	return c.act(ctx, name, func(s *state, now time.Time) (*transition, error) {
		if s.st.Phase != Progressing {
			return nil, fmt.Errorf("%w: rollout %s is %s, not progressing", ErrNotActive, name, s.st.Phase)
		}
		s.st.Phase, s.st.PausedAt, s.st.Message = Paused, now, "paused by "+actor
		t := &transition{}
		t.event("paused", "paused by %s at step %d/%d", actor, s.st.Step+1, len(s.spec.Steps))
		return t, nil
	}, actor)
}

// Resume continues a paused rollout. After a failure (onFailure: pause) or
// an inconclusive analysis the current step's analysis starts over.
func (c *Controller) Resume(ctx context.Context, name, actor string) (Document, error) {
	return c.act(ctx, name, func(s *state, now time.Time) (*transition, error) {
		if s.st.Phase != Paused {
			return nil, fmt.Errorf("%w: rollout %s is %s, not paused", ErrNotActive, name, s.st.Phase)
		}
		if step := s.spec.step(s.st.Step); step != nil && step.Pause != nil && step.Pause.Duration == 0 {
			return nil, fmt.Errorf("%w: rollout %s waits for promotion at step %d: use promote", ErrNotActive, name, s.st.Step+1)
		}
		t := &transition{}
		switch {
		case !s.st.PausedAt.IsZero():
			s.st.StepStarted = s.st.StepStarted.Add(now.Sub(s.st.PausedAt))
			t.event("resumed", "resumed by %s after %s paused", actor, now.Sub(s.st.PausedAt).Round(time.Second))
		default:
			s.st.StepStarted, s.st.LastAnalysis = now, time.Time{}
			s.st.StepMark = c.src.Observe(s.spec.Endpoint, s.st.Stable, s.st.Candidate, now)
			t.event("resumed", "resumed by %s: step %d/%d analysis starts over", actor, s.st.Step+1, len(s.spec.Steps))
		}
		s.st.Phase, s.st.PausedAt, s.st.Failed, s.st.Message = Progressing, time.Time{}, false, ""
		return t, nil
	}, actor)
}

// Rollback puts an endpoint back to an earlier spec at once, without
// analysis: the spec of revision toRevision, or, when it is 0, the spec the
// endpoint had before its latest rollout (after a promotion too), or else
// its previous revision. An active rollout of the endpoint is aborted in the
// same transaction.
func (c *Controller) Rollback(ctx context.Context, endpoint string, toRevision int64, actor string) (registry.Endpoint, error) {
	hist, err := c.reg.EndpointHistory(ctx, endpoint)
	if err != nil {
		return registry.Endpoint{}, err
	}
	cur, err := c.reg.GetEndpoint(ctx, endpoint)
	if err != nil {
		return registry.Endpoint{}, err
	}
	var target *registry.EndpointSpec
	var why string
	ros, err := c.db.ListRollouts(ctx, endpoint)
	if err != nil {
		return registry.Endpoint{}, err
	}
	var latest, active *state
	for _, ro := range ros {
		s, err := decode(ro)
		if err != nil {
			return registry.Endpoint{}, err
		}
		if len(s.st.Original) > 0 && (latest == nil || s.st.StartedAt.After(latest.st.StartedAt)) {
			latest = s
		}
		if !s.st.Phase.Final() && s.st.Phase != Pending {
			active = s
		}
	}
	switch {
	case toRevision > 0:
		for i := range hist {
			if hist[i].Revision == toRevision {
				sp := hist[i].Spec
				target, why = &sp, fmt.Sprintf("revision %d", toRevision)
			}
		}
		if target == nil {
			return registry.Endpoint{}, fmt.Errorf("%w: endpoint %s has no revision %d", store.ErrNotFound, endpoint, toRevision)
		}
	case latest != nil:
		var sp registry.EndpointSpec
		if err := json.Unmarshal(latest.st.Original, &sp); err != nil {
			return registry.Endpoint{}, err
		}
		target, why = &sp, fmt.Sprintf("the spec before rollout %s", latest.ro.Name)
	default:
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Revision < cur.Revision && !reflect.DeepEqual(hist[i].Spec, cur.Spec) {
				sp := hist[i].Spec
				target, why = &sp, fmt.Sprintf("revision %d", hist[i].Revision)
				break
			}
		}
		if target == nil {
			return registry.Endpoint{}, fmt.Errorf("%w: endpoint %s has no earlier revision to roll back to", store.ErrNotFound, endpoint)
		}
	}
	change := func(ep *registry.EndpointSpec) error { *ep = *target; return nil }
	if active != nil {
		now := c.now().UTC()
		active.st.Phase, active.st.FinishedAt, active.st.Weight = Aborted, now, 0
		active.st.Message = fmt.Sprintf("aborted: endpoint rolled back to %s by %s", why, actor)
		t := &transition{endpoint: change}
		t.event("aborted", "%s", active.st.Message)
		if err := c.write(ctx, active, t, actor); err != nil {
			return registry.Endpoint{}, err
		}
		return c.reg.GetEndpoint(ctx, endpoint)
	}
	return c.reg.UpdateEndpoint(ctx, endpoint, change)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with maps of plain values
	}
	return b
}
