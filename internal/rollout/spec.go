package rollout

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

// APIVersion and Kind identify a Rollout document.
const (
	APIVersion = "sluice.dev/v1"
	Kind       = "Rollout"
)

// ErrInvalid marks a rollout spec that fails validation; the message names
// the field path.
var ErrInvalid = errors.New("invalid rollout")

// Document is a Rollout as users write it (YAML or JSON) and as the API
// returns it, with its state.
type Document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
	Status     *Status  `json:"status,omitempty"`
}

// Metadata names a rollout.
type Metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Spec is what a rollout should do.
type Spec struct {
	// Endpoint is the endpoint the rollout changes.
	Endpoint string `json:"endpoint"`
	// Candidate is the version to roll out: a version number, or an alias
	// or "latest", which the rollout follows: when it moves to another
	// version the rollout starts over with that version.
	Candidate string `json:"candidate"`
	// Stable is the version the endpoint falls back to; 0 means the version
	// it serves when the rollout starts.
	Stable int `json:"stable,omitempty"`
	// OnFailure is "rollback" (the default: all traffic back to stable at
	// once) or "pause" (freeze the traffic and wait for a person).
	OnFailure string `json:"onFailure,omitempty"`
	// Sticky keeps each key on one version while the candidate's weight
	// grows (see traffic.Sticky).
	Sticky *traffic.Sticky `json:"sticky,omitempty"`
	// Analysis configures how the candidate is judged against stable.
	Analysis *Analysis `json:"analysis,omitempty"`
	// HardLimits roll back at once, whatever the analysis says.
	HardLimits []HardLimit `json:"hardLimits,omitempty"`
	// Steps run in order; after the last one the candidate is promoted.
	Steps []Step `json:"steps"`
	// Promotion says what promoting the candidate does besides sending it
	// all traffic.
	Promotion *Promotion `json:"promotion,omitempty"`
	// Notifications are webhooks called on every transition.
	Notifications []Notification `json:"notifications,omitempty"`
	// Gates must pass before the candidate gets any traffic.
	Gates *Gates `json:"gates,omitempty"`
}

// Analysis configures the comparison of candidate with stable.
type Analysis struct {
	// Interval is how often the metrics are evaluated; default 10s.
	Interval traffic.Duration `json:"interval,omitempty"`
	// Alpha is each metric's false-alarm rate under continuous monitoring;
	// default 0.05.
	Alpha float64 `json:"alpha,omitempty"`
	// Inconclusive is what an analysis step does when its duration ends
	// without a verdict: "pause" (default: wait for a person), "fail" or
	// "pass".
	Inconclusive string `json:"inconclusive,omitempty"`
	// Background, unless false, also evaluates the metrics during every
	// step after the candidate first gets traffic; a failing metric then
	// fails the rollout at once (it never promotes early).
	Background *bool `json:"background,omitempty"`
	// Metrics are judged at analysis steps (and in the background); when
	// empty, errorRate and latency p99 with default tolerances.
	Metrics []Metric `json:"metrics,omitempty"`
}

// Metric types.
const (
	MetricErrorRate       = "errorRate"       // candidate vs stable, share of failed requests
	MetricLatency         = "latency"         // candidate vs stable, latency distribution and a quantile
	MetricShadowAgreement = "shadowAgreement" // candidate mirrored beside stable: share of rows with the same class
	MetricShadowDiff      = "shadowDiff"      // candidate mirrored beside stable: mean absolute difference of scores
	MetricAccuracy        = "accuracy"        // candidate vs stable, from feedback labels
	MetricMSE             = "mse"             // candidate vs stable, mean squared error from feedback labels
	MetricReward          = "reward"          // candidate vs stable, mean feedback reward (a custom KPI)
	MetricChallengerLoss  = "challengerLoss"  // paired: candidate as challenger, loss difference on the same labelled requests
	MetricInputDrift      = "inputDrift"      // the candidate's live inputs vs its training baseline: the worst feature's PSI
)

var metricTypes = []string{MetricErrorRate, MetricLatency, MetricShadowAgreement, MetricShadowDiff, MetricAccuracy, MetricMSE, MetricReward, MetricChallengerLoss, MetricInputDrift}

// Metric is one check of the candidate.
type Metric struct {
	// Name labels the metric in reports; default its type.
	Name string `json:"name,omitempty"`
	// Type is one of errorRate, latency, shadowAgreement, shadowDiff,
	// accuracy, mse, reward, challengerLoss, inputDrift.
	Type string `json:"type"`
	// Quantile is the latency quantile reported, 0..1; default 0.99.
	Quantile float64 `json:"quantile,omitempty"`
	// Tolerance is how much worse than stable the candidate may be:
	// absolute, or a fraction of stable's value when Relative. For
	// shadowAgreement it is the least agreement accepted (e.g. 0.95); for
	// shadowDiff the largest mean absolute difference; for inputDrift the
	// largest PSI of any feature (0.1 is a common "watch", 0.25 an "act"),
	// or, when Relative, how much more than stable's PSI on its own window.
	Tolerance float64 `json:"tolerance"`
	Relative  bool    `json:"relative,omitempty"`
	// MinSamples is the least number of observations on each side before
	// a verdict; default 100 (20 for feedback metrics).
	MinSamples int64 `json:"minSamples,omitempty"`
}

// HardLimit trips when the candidate's value stays over Above for For.
type HardLimit struct {
	// Metric is "errorRate" or "latency" (the latency quantile, seconds).
	Metric   string           `json:"metric"`
	Quantile float64          `json:"quantile,omitempty"`
	Above    float64          `json:"above"`
	For      traffic.Duration `json:"for,omitempty"`
	// MinSamples is the least number of candidate requests in an interval
	// for it to count; default 20.
	MinSamples int64 `json:"minSamples,omitempty"`
}

// Step is one step of a rollout; exactly one field is set.
type Step struct {
	// SetWeight sends this percentage of traffic to the candidate.
	SetWeight *float64 `json:"setWeight,omitempty"`
	// Pause waits for a duration, or until `sluice rollout promote`.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis judges the candidate on the traffic it gets now.
	Analysis *AnalysisStep `json:"analysis,omitempty"`
	// Mirror copies traffic to the candidate as a shadow and judges it.
	Mirror *MirrorStep `json:"mirror,omitempty"`
	// Switch makes the candidate the blue-green active version.
	Switch *SwitchStep `json:"switch,omitempty"`
	// Challenge runs the candidate as a challenger of stable (it scores
	// every request, stable answers) and judges it.
	Challenge *AnalysisStep `json:"challenge,omitempty"`
	// Bandit lets a multi-armed bandit over stable and candidate divide the
	// traffic, then judges the candidate.
	Bandit *BanditStep `json:"bandit,omitempty"`
}

// Pause waits. A zero Duration waits for promote.
type Pause struct {
	Duration traffic.Duration `json:"duration,omitempty"`
}

// AnalysisStep runs the analysis until every metric passes (after
// MinDuration), one fails, or Duration ends.
type AnalysisStep struct {
	Duration    traffic.Duration `json:"duration"`
	MinDuration traffic.Duration `json:"minDuration,omitempty"`
	// Metrics override the rollout's analysis metrics for this step.
	Metrics []Metric `json:"metrics,omitempty"`
}

// MirrorStep mirrors Percent of requests to the candidate.
type MirrorStep struct {
	Percent float64 `json:"percent"`
	AnalysisStep
}

// SwitchStep switches blue-green: the candidate, loaded as the preview
// since the rollout started, becomes active; stable stays loaded for
// KeepPrevious so that a failure switches back at once.
type SwitchStep struct {
	KeepPrevious traffic.Duration `json:"keepPrevious,omitempty"`
}

// BanditStep runs a bandit over stable and candidate.
type BanditStep struct {
	Algorithm traffic.Algorithm  `json:"algorithm"`
	Reward    traffic.RewardKind `json:"reward,omitempty"`
	MinShare  float64            `json:"minShare,omitempty"`
	AnalysisStep
}

// Promotion configures what promotion does.
type Promotion struct {
	// SetAlias moves this alias of the model to the candidate on promotion.
	SetAlias string `json:"setAlias,omitempty"`
}

// Notification is a webhook called on rollout transitions.
type Notification struct {
	URL string `json:"url"`
	// Format is "json" (default) or "slack" (a Slack-compatible {"text"} body).
	Format string `json:"format,omitempty"`
	// Events limits the events sent (e.g. ["rolledBack","promoted"]);
	// empty means all.
	Events []string `json:"events,omitempty"`
}

// Defaults.
const (
	defaultInterval   = 10 * time.Second
	defaultAlpha      = 0.05
	defaultMinSamples = 100
	defaultFeedbackN  = 20
	defaultLimitN     = 20
)

func (s *Spec) interval() time.Duration {
	if s.Analysis != nil && s.Analysis.Interval > 0 {
		return time.Duration(s.Analysis.Interval)
	}
	return defaultInterval
}

func (s *Spec) alpha() float64 {
	if s.Analysis != nil && s.Analysis.Alpha > 0 {
		return s.Analysis.Alpha
	}
	return defaultAlpha
}

func (s *Spec) background() bool {
	return s.Analysis == nil || s.Analysis.Background == nil || *s.Analysis.Background
}

func (s *Spec) inconclusive() string {
	if s.Analysis != nil && s.Analysis.Inconclusive != "" {
		return s.Analysis.Inconclusive
	}
	return "pause"
}

// metrics returns the metrics an analysis uses: the step's own, else the
// rollout's, else the defaults.
func (s *Spec) metrics(step []Metric) []Metric {
	switch {
	case len(step) > 0:
		return step
	case s.Analysis != nil && len(s.Analysis.Metrics) > 0:
		return s.Analysis.Metrics
	}
	return []Metric{
		{Type: MetricErrorRate, Tolerance: 0.01},
		{Type: MetricLatency, Quantile: 0.99, Tolerance: 0.25, Relative: true},
	}
}

func (m Metric) name() string {
	if m.Name != "" {
		return m.Name
	}
	if m.Type == MetricLatency {
		return fmt.Sprintf("latency-p%s", strconv.FormatFloat(100*m.quantile(), 'f', -1, 64))
	}
	return m.Type
}

func (m Metric) quantile() float64 {
	if m.Quantile > 0 {
		return m.Quantile
	}
	return 0.99
}

func (m Metric) minSamples() int64 {
	switch {
	case m.MinSamples > 0:
		return m.MinSamples
	case m.Type == MetricAccuracy || m.Type == MetricMSE || m.Type == MetricReward || m.Type == MetricChallengerLoss:
		return defaultFeedbackN
	}
	return defaultMinSamples
}

// kind names a step's kind.
func (st Step) kind() string {
	switch {
	case st.SetWeight != nil:
		return "setWeight"
	case st.Pause != nil:
		return "pause"
	case st.Analysis != nil:
		return "analysis"
	case st.Mirror != nil:
		return "mirror"
	case st.Switch != nil:
		return "switch"
	case st.Challenge != nil:
		return "challenge"
	case st.Bandit != nil:
		return "bandit"
	}
	return ""
}

// analysisStep returns the analysis part of a step, if it has one.
func (st Step) analysisStep() *AnalysisStep {
	switch {
	case st.Analysis != nil:
		return st.Analysis
	case st.Mirror != nil:
		return &st.Mirror.AnalysisStep
	case st.Challenge != nil:
		return st.Challenge
	case st.Bandit != nil:
		return &st.Bandit.AnalysisStep
	}
	return nil
}

// Describe is a short human form of a step, e.g. "setWeight 25".
func (st Step) Describe() string {
	switch {
	case st.SetWeight != nil:
		return "setWeight " + strconv.FormatFloat(*st.SetWeight, 'f', -1, 64)
	case st.Pause != nil && st.Pause.Duration == 0:
		return "pause until promoted"
	case st.Pause != nil:
		return "pause " + st.Pause.Duration.String()
	case st.Analysis != nil:
		return "analysis " + st.Analysis.Duration.String()
	case st.Mirror != nil:
		return fmt.Sprintf("mirror %s%% for %s", strconv.FormatFloat(st.Mirror.Percent, 'f', -1, 64), st.Mirror.Duration)
	case st.Switch != nil:
		return "switch"
	case st.Challenge != nil:
		return "challenge " + st.Challenge.Duration.String()
	case st.Bandit != nil:
		return fmt.Sprintf("bandit %s for %s", st.Bandit.Algorithm, st.Bandit.Duration)
	}
	return "?"
}

// Validate checks a document, naming the first bad field by its path.
func (d *Document) Validate() error {
	if d.APIVersion != APIVersion {
		return fmt.Errorf("%w: apiVersion: must be %q, got %q", ErrInvalid, APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		return fmt.Errorf("%w: kind: must be %q, got %q", ErrInvalid, Kind, d.Kind)
	}
	if d.Metadata.Name == "" {
		return fmt.Errorf("%w: metadata.name: must not be empty", ErrInvalid)
	}
	return d.Spec.Validate()
}

// Validate checks a spec, naming the first bad field by its path.
func (s *Spec) Validate() error {
	bad := func(path, format string, args ...any) error {
		return fmt.Errorf("%w: spec.%s: %s", ErrInvalid, path, fmt.Sprintf(format, args...))
	}
	if s.Endpoint == "" {
		return bad("endpoint", "must not be empty")
	}
	if strings.TrimSpace(s.Candidate) == "" {
		return bad("candidate", "must be a version number, an alias or \"latest\"")
	}
	if n, err := strconv.Atoi(s.Candidate); err == nil && n <= 0 {
		return bad("candidate", "%d is not a positive version number", n)
	}
	if s.Stable < 0 {
		return bad("stable", "must be a positive version number")
	}
	switch s.OnFailure {
	case "", "rollback", "pause":
	default:
		return bad("onFailure", "must be \"rollback\" or \"pause\", got %q", s.OnFailure)
	}
	if s.Sticky != nil && (s.Sticky.Header == "") == (s.Sticky.Feature == "") {
		return bad("sticky", "give exactly one of header and feature")
	}
	if a := s.Analysis; a != nil {
		if a.Interval < 0 || (a.Interval > 0 && a.Interval < traffic.Duration(100*time.Millisecond)) {
			return bad("analysis.interval", "must be at least 100ms")
		}
		if a.Alpha < 0 || a.Alpha >= 0.5 || math.IsNaN(a.Alpha) {
			return bad("analysis.alpha", "must be between 0 and 0.5, got %v", a.Alpha)
		}
		switch a.Inconclusive {
		case "", "pause", "fail", "pass":
		default:
			return bad("analysis.inconclusive", "must be \"pause\", \"fail\" or \"pass\", got %q", a.Inconclusive)
		}
		if err := validateMetrics("analysis.metrics", a.Metrics, bad); err != nil {
			return err
		}
	}
	for i, l := range s.HardLimits {
		p := fmt.Sprintf("hardLimits[%d]", i)
		switch l.Metric {
		case MetricErrorRate:
			if l.Above < 0 || l.Above >= 1 {
				return bad(p+".above", "an error rate limit must be in [0, 1)")
			}
		case MetricLatency:
			if l.Above <= 0 {
				return bad(p+".above", "a latency limit must be a positive number of seconds")
			}
		default:
			return bad(p+".metric", "must be \"errorRate\" or \"latency\", got %q", l.Metric)
		}
		if l.Quantile < 0 || l.Quantile >= 1 || l.For < 0 || l.MinSamples < 0 {
			return bad(p, "quantile must be in [0, 1), for and minSamples must not be negative")
		}
	}
	if len(s.Steps) == 0 {
		return bad("steps", "must have at least one step")
	}
	switches := 0
	blueGreen := s.hasSwitch()
	for i, st := range s.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		n := 0
		for _, set := range []bool{st.SetWeight != nil, st.Pause != nil, st.Analysis != nil, st.Mirror != nil, st.Switch != nil, st.Challenge != nil, st.Bandit != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return bad(p, "give exactly one of setWeight, pause, analysis, mirror, switch, challenge, bandit")
		}
		if blueGreen && st.Pause == nil && st.Analysis == nil && st.Switch == nil {
			return bad(p+"."+st.kind(), "a blue-green rollout (one with a switch step) has only pause, analysis and switch steps")
		}
		switch {
		case st.SetWeight != nil:
			if w := *st.SetWeight; w < 0 || w > 100 || math.IsNaN(w) {
				return bad(p+".setWeight", "must be a percentage 0..100, got %v", w)
			}
		case st.Pause != nil:
			if st.Pause.Duration < 0 {
				return bad(p+".pause.duration", "must not be negative")
			}
		case st.Switch != nil:
			switches++
			if switches > 1 {
				return bad(p+".switch", "a rollout switches at most once")
			}
			if st.Switch.KeepPrevious < 0 {
				return bad(p+".switch.keepPrevious", "must not be negative")
			}
		case st.Mirror != nil:
			if pc := st.Mirror.Percent; !(pc > 0 && pc <= 100) {
				return bad(p+".mirror.percent", "must be more than 0 and at most 100, got %v", pc)
			}
		case st.Bandit != nil:
			b := traffic.Bandit{Algorithm: st.Bandit.Algorithm, Arms: []int{1, 2}, MinShare: st.Bandit.MinShare, Reward: st.Bandit.Reward}
			if err := (&traffic.Policy{Bandit: &b}).Validate(); err != nil {
				return bad(p+".bandit", "%v", err)
			}
		}
		if a := st.analysisStep(); a != nil {
			k := st.kind()
			if a.Duration <= 0 {
				return bad(p+"."+k+".duration", "must be positive")
			}
			if a.MinDuration < 0 || a.MinDuration > a.Duration {
				return bad(p+"."+k+".minDuration", "must be between 0 and duration")
			}
			if err := validateMetrics(p+"."+k+".metrics", a.Metrics, bad); err != nil {
				return err
			}
		}
	}
	if s.Gates != nil {
		if err := s.Gates.validate(bad); err != nil {
			return err
		}
	}
	if s.Promotion != nil && s.Promotion.SetAlias != "" {
		if _, err := strconv.Atoi(s.Promotion.SetAlias); err == nil || s.Promotion.SetAlias == "latest" {
			return bad("promotion.setAlias", "must be an alias name, not %q", s.Promotion.SetAlias)
		}
	}
	for i, n := range s.Notifications {
		p := fmt.Sprintf("notifications[%d]", i)
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(p+".url", "must be an http(s) URL, got %q", n.URL)
		}
		switch n.Format {
		case "", "json", "slack":
		default:
			return bad(p+".format", "must be \"json\" or \"slack\", got %q", n.Format)
		}
		for j, e := range n.Events {
			if !isEventKind(e) {
				return bad(fmt.Sprintf("%s.events[%d]", p, j), "unknown event %q (one of %s)", e, strings.Join(eventKinds, ", "))
			}
		}
	}
	return nil
}

func validateMetrics(path string, ms []Metric, bad func(string, string, ...any) error) error {
	for i, m := range ms {
		p := fmt.Sprintf("%s[%d]", path, i)
		known := false
		for _, t := range metricTypes {
			known = known || m.Type == t
		}
		if !known {
			return bad(p+".type", "unknown metric type %q (one of %s)", m.Type, strings.Join(metricTypes, ", "))
		}
		if m.Tolerance < 0 || math.IsNaN(m.Tolerance) || math.IsInf(m.Tolerance, 0) {
			return bad(p+".tolerance", "must be a non-negative number")
		}
		if m.Type == MetricShadowAgreement && (m.Tolerance <= 0 || m.Tolerance > 1) {
			return bad(p+".tolerance", "is the least agreement accepted, in (0, 1]")
		}
		if m.Quantile < 0 || m.Quantile >= 1 {
			return bad(p+".quantile", "must be in (0, 1)")
		}
		if m.MinSamples < 0 {
			return bad(p+".minSamples", "must not be negative")
		}
	}
	return nil
}
