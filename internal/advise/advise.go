// Package advise recommends how to serve a model and how to roll a new
// version out, from facts about the endpoint: how much traffic it gets,
// whether labels or rewards come back and how late, how many candidates
// compete, whether changes are regulated, the risk a team accepts and how
// sensitive callers are to latency.
//
// Advise is a pure function, tested by tables: the CLI (`sluice advise`)
// gathers the facts from the server's metrics and the user's answers, and
// prints the reasons and a Rollout that `sluice apply` accepts. The sample
// sizes it quotes, and the analysis durations it plans from them, come from
// the same anytime-valid tests the rollout runs (analysis.ProportionSampleSize
// and analysis.PairedSampleSize), at the traffic share the plan gives the
// candidate.
package advise

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/rollout"
)

// Arrival is how the data to score arrives.
type Arrival string

// Arrivals.
const (
	Requests Arrival = "requests" // callers wait for an answer
	Files    Arrival = "files"    // tables or files, scored in bulk
	Events   Arrival = "events"   // a topic of messages
	Devices  Arrival = "devices"  // predictions made on devices, offline
)

// Goal is what the team wants from the change.
type Goal string

// Goals.
const (
	Release  Goal = "release"  // ship a new version without hurting anyone
	Compare  Goal = "compare"  // keep the better of stable and candidate, on evidence
	Optimize Goal = "optimize" // earn the most reward while learning which is better
)

// Risk is how much risk of a bad version reaching callers the team accepts.
type Risk string

// Risk tolerances.
const (
	Low    Risk = "low"
	Medium Risk = "medium"
	High   Risk = "high"
)

// Strategies.
const (
	Canary             = "canary"
	BlueGreen          = "blue-green"
	ShadowThenCanary   = "shadow-then-canary"
	ChampionChallenger = "champion-challenger"
	Bandit             = "bandit"
)

// Facts are what the advice is decided on.
type Facts struct {
	// Endpoint and Candidate name the change; Candidate is a version
	// number or alias ("latest" when empty).
	Endpoint  string
	Candidate string
	// Name is the rollout's name; default ENDPOINT-STRATEGY.
	Name string
	// Candidates is how many candidate versions compete; default 1.
	Candidates int
	// RequestsPerHour is the endpoint's traffic; 0 when unknown.
	RequestsPerHour float64
	// ErrorRate is stable's share of failed requests; negative when unknown.
	ErrorRate float64
	// P99 is stable's 99th-percentile latency; 0 when unknown.
	P99 time.Duration
	// LatencyBudget is the most a caller waits (the endpoint's timeout);
	// 0 when none.
	LatencyBudget time.Duration
	// LatencySensitive says callers notice small slowdowns.
	LatencySensitive bool
	// Labels says true outcomes come back (POST /v1/feedback with a
	// label); LabelsPerHour how many, LabelDelay how late.
	Labels        bool
	LabelsPerHour float64
	LabelDelay    time.Duration
	// Accuracy is stable's accuracy from labels; 0 when unknown.
	Accuracy float64
	// Rewards says business rewards come back; MeanReward is stable's
	// (0 when unknown).
	Rewards    bool
	MeanReward float64
	// Regulated says changes need a second person's approval and a record.
	Regulated bool
	Risk      Risk
	Goal      Goal
	Arrival   Arrival
}

// Quote is a planned sample size and what it buys.
type Quote struct {
	Metric string `json:"metric"`
	// What the size is for, in words.
	What string              `json:"what"`
	Size analysis.SampleSize `json:"size"`
	// Share is the candidate's share of the compared samples.
	Share float64 `json:"share"`
	// Duration is how long the traffic takes to bring the candidate's
	// samples; 0 when the rate is unknown.
	Duration time.Duration `json:"duration"`
}

// Advice is a recommendation with its reasons.
type Advice struct {
	// Serving is real-time, batch, streaming or edge.
	Serving        string   `json:"serving"`
	ServingReasons []string `json:"servingReasons"`
	// Strategy is canary, blue-green, shadow-then-canary,
	// champion-challenger or bandit.
	Strategy string   `json:"strategy"`
	Reasons  []string `json:"reasons"`
	// Rollout is the plan, ready to apply.
	Rollout rollout.Document `json:"rollout"`
	// Samples are the sample sizes the plan's analysis steps are sized by.
	Samples  []Quote  `json:"samples"`
	Warnings []string `json:"warnings,omitempty"`
}

// Planning constants.
const (
	// maxCanaryTime is the longest a canary step may take to collect its
	// samples before a statistical canary is judged impractical.
	maxCanaryTime = 24 * time.Hour
	// maxLabelDelay is the longest label delay an analysis waits for.
	maxLabelDelay = 24 * time.Hour
	// assumedErrorRate, assumedAccuracy and assumedReward stand in for
	// stable's values when there are no data yet.
	assumedErrorRate = 0.01
	assumedAccuracy  = 0.9
	assumedReward    = 0.1
	// assumedDisagreement is the share of requests two versions classify
	// differently, for the paired plan (the variance of 0/1 loss
	// differences is at most this).
	assumedDisagreement = 0.1
)

// tolerances by risk: error rate (absolute), accuracy (absolute), reward
// (absolute), alpha and the first canary weight.
type riskPlan struct {
	errTol, accTol, rewardTol, alpha float64
	firstWeight                      float64
}

var riskPlans = map[Risk]riskPlan{
	Low:    {errTol: 0.005, accTol: 0.01, rewardTol: 0.005, alpha: 0.01, firstWeight: 5},
	Medium: {errTol: 0.01, accTol: 0.02, rewardTol: 0.01, alpha: 0.05, firstWeight: 10},
	High:   {errTol: 0.02, accTol: 0.03, rewardTol: 0.02, alpha: 0.05, firstWeight: 25},
}

// normalize fills defaults and checks the facts.
func (f Facts) normalize() (Facts, error) {
	if f.Endpoint == "" {
		return f, fmt.Errorf("endpoint: must not be empty")
	}
	if f.Candidate == "" {
		f.Candidate = "latest"
	}
	if f.Candidates <= 0 {
		f.Candidates = 1
	}
	if f.Risk == "" {
		f.Risk = Medium
		if f.Regulated {
			f.Risk = Low
		}
	}
	if _, ok := riskPlans[f.Risk]; !ok {
		return f, fmt.Errorf("risk: %q is not one of low, medium, high", f.Risk)
	}
	switch f.Goal {
	case "":
		f.Goal = Release
	case Release, Compare, Optimize:
	default:
		return f, fmt.Errorf("goal: %q is not one of release, compare, optimize", f.Goal)
	}
	switch f.Arrival {
	case "":
		f.Arrival = Requests
	case Requests, Files, Events, Devices:
	default:
		return f, fmt.Errorf("arrival: %q is not one of requests, files, events, devices", f.Arrival)
	}
	if f.RequestsPerHour < 0 || math.IsNaN(f.RequestsPerHour) || math.IsInf(f.RequestsPerHour, 0) {
		return f, fmt.Errorf("requestsPerHour: must be a finite number >= 0")
	}
	if f.ErrorRate > 1 || math.IsNaN(f.ErrorRate) {
		return f, fmt.Errorf("errorRate: must be in [0, 1], or negative for unknown")
	}
	if f.Accuracy < 0 || f.Accuracy > 1 || f.MeanReward < 0 || f.MeanReward > 1 {
		return f, fmt.Errorf("accuracy and meanReward must be in [0, 1]")
	}
	return f, nil
}

// Advise recommends a serving mode, a strategy and a rollout plan.
func Advise(in Facts) (Advice, error) {
	f, err := in.normalize()
	if err != nil {
		return Advice{}, err
	}
	rp := riskPlans[f.Risk]
	var a Advice
	a.Serving, a.ServingReasons = serving(f)

	baseErr := f.ErrorRate
	if baseErr < 0 {
		baseErr = assumedErrorRate
		a.Warnings = append(a.Warnings, fmt.Sprintf("no requests to stable measured yet: the plan assumes stable fails %s of them", pct(assumedErrorRate)))
	}
	baseErr = max(baseErr, 0.001)
	errCrit := analysis.Criterion{Direction: analysis.LowerIsBetter, Tolerance: rp.errTol, Alpha: rp.alpha, MinSamples: 100}
	// How long would a canary at 50% take to clear an equal candidate?
	half, err := quoteProportion("errorRate", "pass an equal candidate", baseErr, baseErr, errCrit, 0.5, f.RequestsPerHour)
	if err != nil {
		return Advice{}, err
	}
	labelsUsable := f.Labels && f.LabelDelay <= maxLabelDelay
	if f.Labels && !labelsUsable {
		a.Warnings = append(a.Warnings, fmt.Sprintf("labels arrive %s after the request, later than an analysis can wait (%s): accuracy is left to offline evaluation", round(f.LabelDelay), maxLabelDelay))
	}

	switch {
	case f.Goal == Optimize && f.Rewards, f.Candidates > 1 && f.Rewards:
		a.Strategy = Bandit
		if f.Goal == Optimize {
			a.Reasons = append(a.Reasons, "the goal is reward, and rewards come back: a bandit sends more traffic to the version that earns more while it learns, instead of paying for a fixed split")
		} else {
			a.Reasons = append(a.Reasons, fmt.Sprintf("%d candidates compete and rewards come back: a bandit keeps trying every version but quickly starves the poor ones (for all of them at once, give the endpoint a bandit policy over every version, see examples/endpoints/bandit.yaml)", f.Candidates))
		}
	case (f.Regulated || f.Risk == Low) && labelsUsable:
		a.Strategy = ChampionChallenger
		a.Reasons = append(a.Reasons, why(f, "no caller is answered by the candidate until labels show, on the same requests, that it is not worse (a paired test, which needs far fewer labels than comparing two groups)"))
	case f.Regulated || f.Risk == Low:
		a.Strategy = ShadowThenCanary
		a.Reasons = append(a.Reasons, why(f, "the candidate first scores a copy of every request without answering, so errors and disagreements with stable show before any caller sees it; only then does a slow canary start"))
	case f.Goal == Compare && labelsUsable:
		a.Strategy = ChampionChallenger
		a.Reasons = append(a.Reasons, "the goal is to keep the better version and labels come back: the challenger scores the same requests as the champion, so the comparison is paired and fair")
	case f.RequestsPerHour == 0 || half.Duration > maxCanaryTime:
		a.Strategy = BlueGreen
		if f.RequestsPerHour == 0 {
			a.Reasons = append(a.Reasons, "no traffic was measured, so a canary's statistics could not decide: blue-green loads the candidate beside stable, lets you check it on the preview route, switches all traffic in one swap and switches back at once on errors")
		} else {
			a.Reasons = append(a.Reasons, fmt.Sprintf("at %s requests an hour even a 50%% canary needs %s to clear an equal candidate (%d requests on it), longer than %s: blue-green checks the candidate on the preview route, switches in one swap and keeps stable warm to switch back at once", num(f.RequestsPerHour), round(half.Duration), half.Size.Candidate, maxCanaryTime))
		}
	default:
		a.Strategy = Canary
		a.Reasons = append(a.Reasons, fmt.Sprintf("%s requests an hour are enough for a canary's statistics to decide within hours: the candidate gets a small share first, and is rolled back automatically if it fails more or is slower", num(f.RequestsPerHour)))
	}
	if f.Goal == Optimize && !f.Rewards {
		a.Warnings = append(a.Warnings, "the goal is reward, but no rewards come back: send them to POST /v1/feedback ({\"request_id\": ..., \"reward\": 1}) to let a bandit learn")
	}
	if f.LatencySensitive || (f.LatencyBudget > 0 && f.P99 > f.LatencyBudget/2) {
		f.LatencySensitive = true
		a.Reasons = append(a.Reasons, "callers are latency sensitive: the analysis judges p99 latency with a tight tolerance and a hard limit rolls back at once above the budget")
	}
	p := planner{f: f, rp: rp, baseErr: baseErr, errCrit: errCrit, labels: labelsUsable, advice: &a}
	if err := p.plan(); err != nil {
		return Advice{}, err
	}
	return a, nil
}

// why explains a choice made for regulation or low risk tolerance.
func why(f Facts, what string) string {
	switch {
	case f.Regulated:
		return "changes are regulated (the endpoint requires approval): " + what + "; the rollout waits for a second person's approval, and gates check the signature and the model card first"
	default:
		return "the risk tolerance is low: " + what
	}
}

// serving recommends how to serve the model from how data arrives.
func serving(f Facts) (string, []string) {
	switch f.Arrival {
	case Files:
		return "batch", []string{"data arrives as files: score them in bulk with a batch job through the endpoint; the rollout below decides which version the jobs use, and nothing waits on each prediction"}
	case Events:
		return "streaming", []string{"data arrives as events: a stream (source topic → endpoint → sink topic) scores them as they come and commits offsets only after the sink has the result; the rollout below changes the version the stream calls"}
	case Devices:
		return "edge", []string{"predictions are made on devices, often offline: push signed model bundles to device groups and roll out group by group; the endpoint stays the reference the devices' results are compared with"}
	}
	r := "callers wait for each answer: serve in real time from the endpoint"
	if f.LatencyBudget > 0 {
		r += fmt.Sprintf(" within its %s timeout", f.LatencyBudget)
	}
	if f.P99 > 0 {
		r += fmt.Sprintf(" (stable's p99 is %s now)", round(f.P99))
	}
	return "real-time", []string{r}
}

// quoteProportion plans a proportion comparison and the time its candidate
// samples take at share of perHour.
func quoteProportion(metric, what string, cand, base float64, c analysis.Criterion, share, perHour float64) (Quote, error) {
	ss, err := analysis.ProportionSampleSize(cand, base, analysis.Plan{Criterion: c, Share: share})
	if err != nil {
		return Quote{}, fmt.Errorf("planning %s: %w", metric, err)
	}
	return Quote{Metric: metric, What: what, Size: ss, Share: share, Duration: timeFor(ss.Candidate, share*perHour)}, nil
}

// timeFor is how long n samples take at perHour; 0 when unknown.
func timeFor(n int64, perHour float64) time.Duration {
	if perHour <= 0 {
		return 0
	}
	h := float64(n) / perHour
	if h > 1e5 {
		return time.Duration(1e5) * time.Hour
	}
	return time.Duration(h * float64(time.Hour))
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'g', 3, 64) + "%" }

func num(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }

// round shortens a duration for people.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
