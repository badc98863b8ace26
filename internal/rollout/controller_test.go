package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
)

// rig is a registry with three versions of one model, an endpoint serving
// version 1, the real monitors, and a controller on a manual clock.
type rig struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	db   *store.DB
	reg  *registry.Service
	gw   *gateway.Gateway
	mon  Monitors
	now  time.Time
	ctl  *Controller
	hook *hookServer
	name string // the rollout traffic() feeds
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, ctx: context.Background(), dir: t.TempDir(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	db, err := store.Open(r.ctx, "sqlite:"+filepath.Join(r.dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r.db = db
	r.open()
	model, err := os.ReadFile(filepath.Join("..", "..", "examples", "xgboost", "breast_cancer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := r.reg.Push(r.ctx, registry.PushRequest{Model: "fraud", Artifact: model, Description: fmt.Sprint("v", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.reg.CreateEndpoint(r.ctx, "fraud", registry.EndpointSpec{Model: "fraud", Version: "1"}); err != nil {
		t.Fatal(err)
	}
	r.hook = newHookServer(t)
	return r
}

// open builds the registry, monitors and controller over the store, as a
// (re)started server does.
func (r *rig) open() {
	blobs, err := artifact.Open(filepath.Join(r.dir, "artifacts"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.mon = Monitors{Live: monitor.NewLive(), Comparison: monitor.NewComparison(), Outcomes: monitor.NewOutcomes()}
	r.reg = registry.New(r.db, blobs, inference.NewFormats(xgboost.Format{}), registry.Options{Counter: r.mon.Live})
	r.gw = gateway.New(gateway.Options{})
	r.reg.Attach(r.gw)
	if err := r.reg.Sync(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	r.ctl = New(r.reg, r.mon, Options{Now: func() time.Time { return r.now }})
	ctx, cancel := context.WithCancel(r.ctx)
	r.t.Cleanup(cancel)
	go r.ctl.notify.run(ctx)
}

func (r *rig) apply(yamlSpec string) Document {
	r.t.Helper()
	doc, err := decodeYAML(yamlSpec)
	if err != nil {
		r.t.Fatal(err)
	}
	if r.hook != nil {
		doc.Spec.Notifications = []Notification{{URL: r.hook.srv.URL}}
	}
	out, _, err := r.ctl.Apply(r.ctx, doc, "alice")
	if err != nil {
		r.t.Fatalf("Apply: %v", err)
	}
	r.name = doc.Metadata.Name
	return out
}

// traffic records n requests for each version with the given error rates
// and latencies, as the gateway would.
func (r *rig) traffic(n int, stableErr, candErr float64, stableLat, candLat time.Duration) {
	st := r.status(r.name)
	for i := 0; i < n; i++ {
		kind := func(rate float64) string {
			if float64(i%1000) < rate*1000 {
				return "internal"
			}
			return ""
		}
		jitter := time.Duration(i%7) * stableLat / 10
		r.mon.Live.Record("fraud", st.Stable, "stable", stableLat+jitter, 1, kind(stableErr))
		r.mon.Live.Record("fraud", st.Candidate, "canary", candLat+jitter*candLat/stableLat, 1, kind(candErr))
	}
}

// step advances the clock and runs one reconcile.
func (r *rig) step(d time.Duration) {
	r.now = r.now.Add(d)
	r.ctl.Reconcile(r.ctx)
}

func (r *rig) status(name string) Status {
	r.t.Helper()
	doc, _, err := r.ctl.Get(r.ctx, name)
	if err != nil {
		r.t.Fatal(err)
	}
	return *doc.Status
}

func (r *rig) endpoint() registry.EndpointSpec {
	r.t.Helper()
	ep, err := r.reg.GetEndpoint(r.ctx, "fraud")
	if err != nil {
		r.t.Fatal(err)
	}
	return ep.Spec
}

// runUntil reconciles with healthy-or-not traffic until the rollout reaches
// a final or paused phase or maxSteps pass.
func (r *rig) runUntil(name string, maxSteps int, tick func()) Status {
	for i := 0; i < maxSteps; i++ {
		st := r.status(name)
		if st.Phase.Final() || st.Phase == Paused {
			return st
		}
		if tick != nil && st.Phase == Progressing {
			tick()
		}
		r.step(10 * time.Second)
	}
	return r.status(name)
}

func decodeYAML(s string) (Document, error) {
	var doc Document
	js, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		return doc, err
	}
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return doc, err
	}
	return doc, doc.Validate()
}

const canaryYAML = `
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: canary}
spec:
  endpoint: fraud
  candidate: "2"
  analysis:
    interval: 10s
    metrics:
      - {type: errorRate, tolerance: 0.01, minSamples: 200}
      - {type: latency, quantile: 0.99, tolerance: 0.5, relative: true, minSamples: 200}
  steps:
    - setWeight: 10
    - analysis: {duration: 30m}
    - setWeight: 50
    - pause: {duration: 1m}
    - analysis: {duration: 30m}
`

func TestGoodCandidateIsPromotedStepByStep(t *testing.T) {
	r := newRig(t)
	r.apply(canaryYAML)
	var weights []float64
	st := r.runUntil("canary", 400, func() {
		st := r.status("canary")
		if len(weights) == 0 || weights[len(weights)-1] != st.Weight {
			weights = append(weights, st.Weight)
		}
		r.traffic(300, 0, 0, 2*time.Millisecond, 2*time.Millisecond)
	})
	if st.Phase != Promoted {
		t.Fatalf("phase %s (%s), want Promoted; analysis %+v", st.Phase, st.Message, st.Analysis)
	}
	if got := fmt.Sprint(weights); got != "[0 10 50]" {
		t.Errorf("candidate weights over the rollout = %s, want [0 10 50]", got)
	}
	ep := r.endpoint()
	if ep.Traffic != nil || ep.Version != "2" {
		t.Errorf("endpoint after promotion = %+v, want version 2 alone", ep)
	}
	_, evs, _ := r.ctl.Get(r.ctx, "canary")
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := "created started step analysis step step analysis promoted"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events = %s\nwant %s", got, want)
	}
	r.hook.wait(t, "promoted")
}

func TestCandidateWithMoreErrorsIsRolledBack(t *testing.T) {
	r := newRig(t)
	r.apply(canaryYAML)
	st := r.runUntil("canary", 200, func() { r.traffic(200, 0.001, 0.05, 2*time.Millisecond, 2*time.Millisecond) })
	if st.Phase != RolledBack {
		t.Fatalf("phase %s (%s), want RolledBack", st.Phase, st.Message)
	}
	if !strings.Contains(st.Message, "errorRate") || !strings.Contains(st.Message, "back to version 1") {
		t.Errorf("message = %q", st.Message)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Errorf("endpoint after rollback = %+v, want the original spec (version 1)", ep)
	}
	r.hook.wait(t, "rolledBack")
}

func TestSlowerCandidateIsRolledBack(t *testing.T) {
	r := newRig(t)
	r.apply(canaryYAML)
	st := r.runUntil("canary", 200, func() { r.traffic(200, 0, 0, 2*time.Millisecond, 8*time.Millisecond) })
	if st.Phase != RolledBack || !strings.Contains(st.Message, "latency") {
		t.Fatalf("phase %s (%s), want RolledBack on latency", st.Phase, st.Message)
	}
}

func TestHardLimitRollsBack(t *testing.T) {
	r := newRig(t)
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: limit}
spec:
  endpoint: fraud
  candidate: "2"
  analysis: {background: false}
  hardLimits: [{metric: errorRate, above: 0.2, for: 30s}]
  steps:
    - setWeight: 20
    - pause: {duration: 1h}
`)
	r.step(time.Second) // start
	r.step(time.Second) // setWeight
	healthy := r.runUntil("limit", 5, func() { r.traffic(100, 0, 0.01, time.Millisecond, time.Millisecond) })
	if healthy.Phase != Progressing {
		t.Fatalf("phase %s (%s) with a healthy candidate", healthy.Phase, healthy.Message)
	}
	var trippedAfter time.Duration
	start := r.now
	st := r.runUntil("limit", 20, func() { r.traffic(100, 0, 0.5, time.Millisecond, time.Millisecond); trippedAfter = r.now.Sub(start) })
	if st.Phase != RolledBack || !strings.Contains(st.Message, "hard limit") {
		t.Fatalf("phase %s (%s), want RolledBack by the hard limit", st.Phase, st.Message)
	}
	if trippedAfter < 30*time.Second {
		t.Errorf("tripped after %s, before the limit's 30s", trippedAfter)
	}
}

func TestOnFailurePauseFreezesAndResumeStartsAnalysisOver(t *testing.T) {
	r := newRig(t)
	r.apply(strings.Replace(canaryYAML, "  candidate: \"2\"\n", "  candidate: \"2\"\n  onFailure: pause\n", 1))
	st := r.runUntil("canary", 200, func() { r.traffic(200, 0, 0.05, 2*time.Millisecond, 2*time.Millisecond) })
	if st.Phase != Paused || !st.Failed {
		t.Fatalf("phase %s failed=%v (%s), want Paused after a failure", st.Phase, st.Failed, st.Message)
	}
	ep := r.endpoint()
	if ep.Traffic == nil || len(ep.Traffic.Split) != 2 || ep.Traffic.Split[1].Weight == 0 {
		t.Errorf("traffic changed on a paused failure: %+v", ep.Traffic)
	}
	if _, err := r.ctl.Resume(r.ctx, "canary", "bob"); err != nil {
		t.Fatal(err)
	}
	st = r.status("canary")
	if st.Phase != Progressing || st.Failed || len(st.Analysis) != 0 && st.LastAnalysis.After(r.now) {
		t.Errorf("after resume: %+v", st)
	}
	if _, err := r.ctl.Abort(r.ctx, "canary", "not today", "bob"); err != nil {
		t.Fatal(err)
	}
	if st := r.status("canary"); st.Phase != Aborted || !strings.Contains(st.Message, "not today") {
		t.Errorf("after abort: %s %q", st.Phase, st.Message)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Errorf("endpoint after abort = %+v", ep)
	}
}

// A server killed mid-pause resumes at the same step after restart, with
// the pause time already spent counted.
func TestRestartResumesMidPause(t *testing.T) {
	r := newRig(t)
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: p}
spec:
  endpoint: fraud
  candidate: "2"
  analysis: {background: false}
  steps:
    - setWeight: 30
    - pause: {duration: 10m}
    - setWeight: 60
`)
	r.step(time.Second)
	r.step(time.Second)
	r.step(4 * time.Minute)
	if st := r.status("p"); st.Step != 1 || st.Weight != 30 {
		t.Fatalf("before restart: step %d weight %v", st.Step, st.Weight)
	}
	r.open() // a new process: fresh monitors and controller on the same store
	r.step(5 * time.Minute)
	if st := r.status("p"); st.Step != 1 {
		t.Fatalf("after restart, 9 minutes into the pause: step %d, want still 1", st.Step)
	}
	r.step(90 * time.Second)
	r.step(time.Second)
	if st := r.status("p"); st.Weight != 60 {
		t.Fatalf("10.5 minutes into the pause: weight %v step %d, want 60 after the pause", st.Weight, st.Step)
	}
	if ep := r.endpoint(); ep.Traffic == nil || ep.Traffic.Split[1].Weight != 6000 {
		t.Errorf("endpoint traffic = %+v", ep.Traffic)
	}
}

func TestIndefinitePauseWaitsForPromote(t *testing.T) {
	r := newRig(t)
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: p}
spec:
  endpoint: fraud
  candidate: "2"
  analysis: {background: false}
  steps:
    - setWeight: 5
    - pause: {}
`)
	for i := 0; i < 5; i++ {
		r.step(time.Minute)
	}
	if st := r.status("p"); st.Phase != Paused || st.Step != 1 {
		t.Fatalf("phase %s step %d, want Paused at step 1", st.Phase, st.Step)
	}
	if _, err := r.ctl.Resume(r.ctx, "p", "bob"); !errors.Is(err, ErrNotActive) {
		t.Errorf("resume of a pause waiting for promote: %v, want ErrNotActive", err)
	}
	if _, err := r.ctl.Promote(r.ctx, "p", false, "", "bob"); err != nil {
		t.Fatal(err)
	}
	r.step(time.Second)
	if st := r.status("p"); st.Phase != Promoted {
		t.Fatalf("phase %s, want Promoted", st.Phase)
	}
}

func TestBlueGreenSwitchesAndBadGreenSwitchesBack(t *testing.T) {
	r := newRig(t)
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: bg}
spec:
  endpoint: fraud
  candidate: "2"
  analysis:
    metrics: [{type: errorRate, tolerance: 0.01, minSamples: 200}]
  steps:
    - switch: {keepPrevious: 10m}
    - analysis: {duration: 30m}
`)
	r.step(time.Second)
	ep := r.endpoint()
	if bg := ep.Traffic.BlueGreen; bg == nil || bg.Active != 1 || bg.Preview != 2 {
		t.Fatalf("before the switch: %+v, want active 1 with 2 in preview", ep.Traffic)
	}
	// Stable answers everything before the switch.
	for i := 0; i < 2000; i++ {
		r.mon.Live.Record("fraud", 1, "stable", time.Millisecond, 1, "")
	}
	r.step(time.Second)
	ep = r.endpoint()
	if bg := ep.Traffic.BlueGreen; bg == nil || bg.Active != 2 || bg.Previous != 1 {
		t.Fatalf("after the switch: %+v, want active 2, previous 1", ep.Traffic)
	}
	st := r.runUntil("bg", 100, func() {
		for i := 0; i < 200; i++ {
			kind := ""
			if i%10 == 0 {
				kind = "internal"
			}
			r.mon.Live.Record("fraud", 2, "stable", time.Millisecond, 1, kind)
		}
	})
	if st.Phase != RolledBack {
		t.Fatalf("phase %s (%s), want RolledBack", st.Phase, st.Message)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Errorf("after switching back: %+v", ep)
	}
}

// A worse candidate by feedback labels is rolled back: both versions answer
// canary traffic and their answers are labelled.
func TestWorseAccuracyFromFeedbackIsRolledBack(t *testing.T) {
	r := newRig(t)
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: acc}
spec:
  endpoint: fraud
  candidate: "2"
  analysis:
    metrics: [{type: accuracy, tolerance: 0.02, minSamples: 100}]
  steps:
    - setWeight: 50
    - analysis: {duration: 1h}
`)
	n := 0
	st := r.runUntil("acc", 200, func() {
		for i := 0; i < 100; i++ {
			n++
			label := float64(n % 2)
			for _, v := range []struct {
				version int
				right   bool
			}{{1, n%10 != 0}, {2, n%4 != 0}} { // stable 90% right, candidate 75%
				p := label
				if !v.right {
					p = 1 - label
				}
				req := monitor.Request{ID: fmt.Sprint(v.version, "-", n), Endpoint: "fraud",
					Answer: monitor.Prediction{Version: v.version, Values: []float64{p}, Width: 1}}
				if err := r.mon.Outcomes.Join(req, monitor.Feedback{Labels: []float64{label}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if st.Phase != RolledBack || !strings.Contains(st.Message, "accuracy") {
		t.Fatalf("phase %s (%s), want RolledBack on accuracy", st.Phase, st.Message)
	}
}

func TestMovedCandidateAliasRestartsTheAnalysis(t *testing.T) {
	r := newRig(t)
	if _, err := r.reg.SetAlias(r.ctx, "fraud", "candidate", 2, "alice"); err != nil {
		t.Fatal(err)
	}
	r.apply(strings.Replace(canaryYAML, `candidate: "2"`, `candidate: candidate`, 1))
	r.step(time.Second)
	r.step(time.Second)
	r.traffic(500, 0, 0, time.Millisecond, time.Millisecond)
	r.step(10 * time.Second)
	if st := r.status("canary"); st.Candidate != 2 || st.Step < 1 {
		t.Fatalf("candidate %d step %d", st.Candidate, st.Step)
	}
	if _, err := r.reg.SetAlias(r.ctx, "fraud", "candidate", 3, "alice"); err != nil {
		t.Fatal(err)
	}
	r.step(10 * time.Second)
	st := r.status("canary")
	if st.Phase != Pending || st.Step != 0 || len(st.Analysis) != 0 {
		t.Fatalf("after the alias moved: phase %s step %d analysis %v; want a fresh start", st.Phase, st.Step, st.Analysis)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Errorf("traffic not back on stable while restarting: %+v", ep)
	}
	r.step(time.Second)
	if st := r.status("canary"); st.Candidate != 3 || st.Phase != Progressing {
		t.Errorf("restarted with candidate %d, phase %s; want 3, Progressing", st.Candidate, st.Phase)
	}
}

func TestEmergencyPromoteAndRollbackAfterPromotion(t *testing.T) {
	r := newRig(t)
	r.apply(canaryYAML)
	r.step(time.Second)
	if _, err := r.ctl.Promote(r.ctx, "canary", true, "", "bob"); !errors.Is(err, ErrInvalid) {
		t.Errorf("skip-analysis without a reason: %v", err)
	}
	if _, err := r.ctl.Promote(r.ctx, "canary", false, "", "bob"); !errors.Is(err, ErrNotActive) {
		t.Errorf("promote while progressing without skip: %v", err)
	}
	doc, err := r.ctl.Promote(r.ctx, "canary", true, "incident 42 hotfix", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if doc.Status.Phase != Promoted || !strings.Contains(doc.Status.Message, "incident 42") {
		t.Errorf("status %+v", doc.Status)
	}
	_, evs, _ := r.ctl.Get(r.ctx, "canary")
	last := evs[len(evs)-1]
	if last.Actor != "bob" || !strings.Contains(string(last.Data), `"skipAnalysis":true`) {
		t.Errorf("promotion event = %+v", last)
	}
	if ep := r.endpoint(); ep.Version != "2" {
		t.Fatalf("endpoint %+v", ep)
	}
	ep, err := r.ctl.Rollback(r.ctx, "fraud", 0, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Spec.Version != "1" || ep.Spec.Traffic != nil {
		t.Errorf("rollback after promotion = %+v, want version 1", ep.Spec)
	}
	ep, err = r.ctl.Rollback(r.ctx, "fraud", 2, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Spec.Traffic == nil {
		t.Errorf("rollback to revision 2 = %+v, want its canary split", ep.Spec)
	}
	if _, err := r.ctl.Rollback(r.ctx, "fraud", 99, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rollback to a missing revision: %v", err)
	}
}

func TestNewRolloutSupersedesActiveOne(t *testing.T) {
	r := newRig(t)
	r.apply(canaryYAML)
	r.step(time.Second)
	r.step(time.Second)
	r.apply(strings.Replace(strings.Replace(canaryYAML, "name: canary", "name: canary3", 1), `candidate: "2"`, `candidate: "3"`, 1))
	r.step(time.Second)
	if st := r.status("canary"); st.Phase != Superseded {
		t.Errorf("old rollout phase %s, want Superseded", st.Phase)
	}
	st := r.status("canary3")
	if st.Phase != Progressing || st.Stable != 1 || st.Candidate != 3 {
		t.Errorf("new rollout %+v", st)
	}
	// Aborting the new one restores the spec from before either rollout.
	if _, err := r.ctl.Abort(r.ctx, "canary3", "", "bob"); err != nil {
		t.Fatal(err)
	}
	if ep := r.endpoint(); ep.Version != "1" || ep.Traffic != nil {
		t.Errorf("after abort: %+v", ep)
	}
}

func TestChangedSpecStartsOver(t *testing.T) {
	r := newRig(t)
	first := r.apply(canaryYAML)
	if again := r.apply(canaryYAML); again.Status.Phase != first.Status.Phase {
		t.Errorf("re-applying the same spec changed the rollout")
	}
	r.step(time.Second)
	r.step(time.Second)
	r.apply(strings.Replace(canaryYAML, `candidate: "2"`, `candidate: "3"`, 1))
	if st := r.status("canary"); st.Phase != Pending {
		t.Errorf("phase %s after a spec change, want Pending", st.Phase)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Errorf("traffic not back on stable: %+v", ep)
	}
}

func TestSpecValidationNamesTheField(t *testing.T) {
	tests := []struct{ patch, want string }{
		{"candidate: \"2\"\n  onFailure: explode", "spec.onFailure"},
		{"candidate: \"0\"", "spec.candidate"},
		{"candidate: \"2\"\n  hardLimits: [{metric: cpu, above: 1}]", "spec.hardLimits[0].metric"},
		{"candidate: \"2\"\n  notifications: [{url: 'ftp://x'}]", "spec.notifications[0].url"},
	}
	for _, tt := range tests {
		_, err := decodeYAML(strings.Replace(canaryYAML, `candidate: "2"`, tt.patch, 1))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.patch, err, tt.want)
		}
	}
	steps := []struct{ step, want string }{
		{"- setWeight: 120", "spec.steps[0].setWeight"},
		{"- {setWeight: 5, pause: {}}", "spec.steps[0]"},
		{"- analysis: {duration: 0s}", "spec.steps[0].analysis.duration"},
		{"- mirror: {percent: 0, duration: 1m}", "spec.steps[0].mirror.percent"},
		{"- analysis: {duration: 1m, metrics: [{type: vibes}]}", "spec.steps[0].analysis.metrics[0].type"},
		{"- bandit: {algorithm: guess, duration: 1m}", "spec.steps[0].bandit"},
		{"- switch: {}\n    - setWeight: 5", "spec.steps[1].setWeight"},
	}
	for _, tt := range steps {
		doc := "apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: x}\nspec:\n  endpoint: e\n  candidate: \"2\"\n  steps:\n    " + tt.step + "\n"
		_, err := decodeYAML(doc)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.step, err, tt.want)
		}
	}
}

func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "rollouts", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeYAML(string(b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// hookServer records webhook notifications.
type hookServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []string
	fail   int // answer 500 to this many requests first
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{fail: 1}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var n notice
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			h.events = append(h.events, n.Event)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait waits until the hook has received event; the controller's notifier
// needs its Run goroutine, so it is started here.
func (h *hookServer) wait(t *testing.T, event string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		got := append([]string(nil), h.events...)
		h.mu.Unlock()
		for _, e := range got {
			if e == event {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Errorf("webhook did not receive %q; got %v", event, h.events)
}

func TestApprovalRequiredWaitsForASecondPerson(t *testing.T) {
	r := newRig(t)
	if _, err := r.reg.UpdateEndpoint(r.ctx, "fraud", func(sp *registry.EndpointSpec) error {
		sp.Approval = registry.ApprovalRequired
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.apply(canaryYAML) // as alice
	r.step(10 * time.Second)
	st := r.status("canary")
	if st.Phase != AwaitingApproval || st.Approval == "" {
		t.Fatalf("phase %s approval %q (%s), want AwaitingApproval with a request", st.Phase, st.Approval, st.Message)
	}
	for i := 0; i < 5; i++ {
		r.step(time.Minute)
	}
	if got := r.status("canary"); got.Phase != AwaitingApproval {
		t.Fatalf("phase %s while the request is pending, want AwaitingApproval", got.Phase)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
		t.Fatalf("endpoint changed before approval: %+v", ep)
	}
	ap, err := r.reg.Approval(r.ctx, st.Approval)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Requester != "alice" || ap.Object != "rollout/canary" {
		t.Errorf("approval request = %+v, want alice asking about rollout/canary", ap)
	}
	if _, err := r.reg.DecideApproval(audit.WithActor(r.ctx, "alice"), st.Approval, true, "lgtm"); !errors.Is(err, store.ErrForbidden) {
		t.Fatalf("requester approving her own rollout: err = %v, want ErrForbidden", err)
	}
	if _, err := r.reg.DecideApproval(audit.WithActor(r.ctx, "bob"), st.Approval, true, "checked the gates"); err != nil {
		t.Fatal(err)
	}
	r.step(10 * time.Second)
	if got := r.status("canary"); got.Phase != Progressing || got.Approval != st.Approval {
		t.Fatalf("after approval: phase %s approval %q (%s), want Progressing with the request kept", got.Phase, got.Approval, got.Message)
	}
	st = r.runUntil("canary", 400, func() { r.traffic(300, 0, 0, 2*time.Millisecond, 2*time.Millisecond) })
	if st.Phase != Promoted {
		t.Fatalf("phase %s (%s), want Promoted", st.Phase, st.Message)
	}

	// A rejected request ends the rollout and leaves the endpoint alone.
	r.apply(strings.Replace(strings.Replace(canaryYAML, "name: canary", "name: next", 1), `candidate: "2"`, `candidate: "3"`, 1))
	r.step(10 * time.Second)
	st = r.status("next")
	if _, err := r.reg.DecideApproval(audit.WithActor(r.ctx, "bob"), st.Approval, false, "no change freeze exception"); err != nil {
		t.Fatal(err)
	}
	r.step(10 * time.Second)
	if st = r.status("next"); st.Phase != Aborted || !strings.Contains(st.Message, "rejected by bob: no change freeze exception") {
		t.Fatalf("after rejection: phase %s (%s), want Aborted naming bob and the reason", st.Phase, st.Message)
	}
	if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "2" {
		t.Errorf("endpoint after a rejected rollout = %+v, want version 2 alone", ep)
	}
}

// driftReadings is a DriftSource with fixed readings per version.
type driftReadings map[int]DriftMark

func (d driftReadings) InputDrift(_ string, version int, _ time.Time) (float64, string, int64, bool) {
	m, ok := d[version]
	return m.PSI, m.Feature, m.Rows, ok
}

func TestCheckDrift(t *testing.T) {
	cases := []struct {
		name       string
		m          Metric
		cand, base *DriftMark
		want       analysis.Decision
		reason     string
	}{
		{"no baseline", Metric{Type: MetricInputDrift, Tolerance: 0.2}, nil, nil, analysis.Inconclusive, "no drift baseline"},
		{"few rows", Metric{Type: MetricInputDrift, Tolerance: 0.2}, &DriftMark{PSI: 0.9, Rows: 50}, nil, analysis.Inconclusive, "50 rows"},
		{"within", Metric{Type: MetricInputDrift, Tolerance: 0.2}, &DriftMark{PSI: 0.05, Feature: "age", Rows: 500}, nil, analysis.Pass, "0.050 (age)"},
		{"over", Metric{Type: MetricInputDrift, Tolerance: 0.2}, &DriftMark{PSI: 0.31, Feature: "amount", Rows: 500}, nil, analysis.Fail, "PSI 0.310 on amount is over 0.200"},
		{"relative within", Metric{Type: MetricInputDrift, Tolerance: 0.5, Relative: true}, &DriftMark{PSI: 0.3, Rows: 500}, &DriftMark{PSI: 0.25, Rows: 500}, analysis.Pass, "within 0.375"},
		{"relative over", Metric{Type: MetricInputDrift, Tolerance: 0.5, Relative: true}, &DriftMark{PSI: 0.4, Rows: 500}, &DriftMark{PSI: 0.25, Rows: 500}, analysis.Fail, "over 0.375"},
		{"relative without stable baseline", Metric{Type: MetricInputDrift, Tolerance: 0.5, Relative: true}, &DriftMark{PSI: 0.4, Rows: 500}, nil, analysis.Inconclusive, "stable version has no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkDrift("inputDrift", c.m, c.cand, c.base)
			if got.Decision != c.want || !strings.Contains(got.Reason, c.reason) {
				t.Errorf("got %s (%s), want %s mentioning %q", got.Decision, got.Reason, c.want, c.reason)
			}
		})
	}
}

func TestDriftingCandidateIsRolledBack(t *testing.T) {
	r := newRig(t)
	drift := driftReadings{1: {PSI: 0.02, Feature: "mean radius", Rows: 1000}, 2: {PSI: 0.02, Feature: "mean radius", Rows: 1000}}
	r.mon.Drift = drift
	r.ctl = New(r.reg, r.mon, Options{Now: func() time.Time { return r.now }})
	r.apply(`
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: drift}
spec:
  endpoint: fraud
  candidate: "2"
  analysis:
    metrics: [{type: inputDrift, tolerance: 0.2, minSamples: 200}]
  steps:
    - setWeight: 20
    - analysis: {duration: 1h}
`)
	r.step(10 * time.Second) // started
	r.step(10 * time.Second) // step 1
	if st := r.status("drift"); st.Phase != Progressing {
		t.Fatalf("phase %s (%s), want Progressing while drift is low", st.Phase, st.Message)
	}
	drift[2] = DriftMark{PSI: 0.45, Feature: "worst area", Rows: 1000}
	st := r.runUntil("drift", 50, nil)
	if st.Phase != RolledBack || !strings.Contains(st.Message, "worst area") {
		t.Fatalf("phase %s (%s), want RolledBack naming the drifting feature", st.Phase, st.Message)
	}
}
