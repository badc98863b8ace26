package advise

import (
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/traffic"
)

// Step durations when the traffic rate is unknown, and their bounds.
const (
	defaultStep = 30 * time.Minute
	minStep     = 5 * time.Minute
	maxStep     = 7 * 24 * time.Hour
)

// planner builds the rollout for the chosen strategy.
type planner struct {
	f       Facts
	rp      riskPlan
	baseErr float64
	errCrit analysis.Criterion
	labels  bool // labels arrive early enough to judge on
	advice  *Advice
}

func (p *planner) quote(q Quote, err error) (Quote, error) {
	if err != nil {
		return q, err
	}
	p.advice.Samples = append(p.advice.Samples, q)
	return q, nil
}

// stepFor is an analysis step long enough to collect the samples that
// pass a good candidate (half as long again, for the spread of real
// rollouts), plus extra (label delay). A bad candidate fails whenever the
// evidence is there, in this step or, by the background analysis, a later
// one.
func stepFor(qs []Quote, extra time.Duration) *rollout.AnalysisStep {
	d := time.Duration(0)
	known := false
	for _, q := range qs {
		if q.Size.Decision != analysis.Pass {
			continue
		}
		if q.Duration > 0 {
			known = true
			d = max(d, q.Duration*3/2)
		}
	}
	if !known {
		d = defaultStep
	}
	d = min(max(ceilTo(d+extra), minStep), maxStep)
	minD := min(max(ceilTo(d/10), time.Minute), d)
	return &rollout.AnalysisStep{Duration: traffic.Duration(d), MinDuration: traffic.Duration(minD)}
}

// ceilTo rounds d up to 5 minutes below a day, to the hour above.
func ceilTo(d time.Duration) time.Duration {
	unit := 5 * time.Minute
	if d >= 24*time.Hour {
		unit = time.Hour
	}
	return (d + unit - 1) / unit * unit
}

func weight(w float64) rollout.Step { return rollout.Step{SetWeight: &w} }

func (p *planner) errorMetric() rollout.Metric {
	return rollout.Metric{Type: rollout.MetricErrorRate, Tolerance: p.rp.errTol, MinSamples: 100}
}

func (p *planner) latencyMetric() rollout.Metric {
	tol := 0.25
	if p.f.LatencySensitive {
		tol = 0.1
	}
	return rollout.Metric{Type: rollout.MetricLatency, Quantile: 0.99, Tolerance: tol, Relative: true, MinSamples: 100}
}

// canaryQuotes plans the error rate comparison at a candidate share: the
// regression it catches and the equal candidate it passes.
func (p *planner) canaryQuotes(share float64) ([]Quote, error) {
	bad := p.baseErr + 2*p.rp.errTol
	f, err := p.quote(quoteProportion("errorRate", fmt.Sprintf("catch a candidate failing %s of requests (stable %s, tolerance +%s) at a %s share",
		pct(bad), pct(p.baseErr), pct(p.rp.errTol), pct(share)), bad, p.baseErr, p.errCrit, share, p.f.RequestsPerHour))
	if err != nil {
		return nil, err
	}
	pass, err := p.quote(quoteProportion("errorRate", fmt.Sprintf("pass a candidate as good as stable at a %s share", pct(share)),
		p.baseErr, p.baseErr, p.errCrit, share, p.f.RequestsPerHour))
	if err != nil {
		return nil, err
	}
	return []Quote{f, pass}, nil
}

// accuracyQuote plans the accuracy comparison from labels at a share.
func (p *planner) accuracyQuote(share float64) (Quote, error) {
	acc := p.f.Accuracy
	if acc == 0 {
		acc = assumedAccuracy
		p.advice.Warnings = append(p.advice.Warnings, fmt.Sprintf("no labelled requests yet: the plan assumes stable is %s accurate", pct(acc)))
	}
	c := analysis.Criterion{Direction: analysis.HigherIsBetter, Tolerance: p.rp.accTol, Alpha: p.rp.alpha, MinSamples: 100}
	perHour := p.f.LabelsPerHour
	if perHour == 0 {
		perHour = p.f.RequestsPerHour
	}
	return p.quote(quoteProportion("accuracy", fmt.Sprintf("pass a candidate as accurate as stable (tolerance −%s) from labels at a %s share", pct(p.rp.accTol), pct(share)),
		acc, acc, c, share, perHour))
}

// canarySteps is setWeight first, analysis, setWeight 50, analysis (when
// first is below 50), setWeight 100, each analysis sized by the quotes at its weight.
func (p *planner) canarySteps(first float64) ([]rollout.Step, error) {
	var steps []rollout.Step
	weights := []float64{first}
	if first < 50 {
		weights = append(weights, 50)
	}
	for _, w := range weights {
		qs, err := p.canaryQuotes(w / 100)
		if err != nil {
			return nil, err
		}
		extra := time.Duration(0)
		if p.labels {
			q, err := p.accuracyQuote(w / 100)
			if err != nil {
				return nil, err
			}
			qs = append(qs, q)
			extra = p.f.LabelDelay
		}
		steps = append(steps, weight(w), rollout.Step{Analysis: stepFor(qs, extra)})
	}
	return append(steps, weight(100)), nil
}

func (p *planner) plan() error {
	a, f := p.advice, p.f
	spec := rollout.Spec{Endpoint: f.Endpoint, Candidate: f.Candidate, OnFailure: "rollback"}
	metrics := []rollout.Metric{p.errorMetric(), p.latencyMetric()}
	if p.labels {
		metrics = append(metrics, rollout.Metric{Type: rollout.MetricAccuracy, Tolerance: p.rp.accTol, MinSamples: 100})
	}
	spec.Analysis = &rollout.Analysis{Alpha: p.rp.alpha, Metrics: metrics}
	spec.HardLimits = []rollout.HardLimit{{Metric: rollout.MetricErrorRate, Above: math.Min(0.5, math.Max(0.2, 5*p.baseErr)), For: traffic.Duration(30 * time.Second)}}
	if f.LatencyBudget > 0 {
		spec.HardLimits = append(spec.HardLimits, rollout.HardLimit{Metric: rollout.MetricLatency, Quantile: 0.99, Above: f.LatencyBudget.Seconds(), For: traffic.Duration(30 * time.Second)})
	}
	if f.Regulated {
		spec.Gates = &rollout.Gates{Signature: true, ModelCard: &rollout.ModelCardGate{Required: []string{"owner", "intended_use", "limitations"}}}
		if f.LatencySensitive && f.LatencyBudget > 0 {
			spec.Gates.Latency = &rollout.LatencyGate{Requests: 200, P99: traffic.Duration(f.LatencyBudget / 2)}
		}
	}
	switch a.Strategy {
	case Canary:
		steps, err := p.canarySteps(p.rp.firstWeight)
		if err != nil {
			return err
		}
		spec.Steps = steps
	case ShadowThenCanary:
		// Both versions score every request: equal arms.
		qs, err := p.canaryQuotes(0.5)
		if err != nil {
			return err
		}
		agree := 0.95
		if f.Risk == Low {
			agree = 0.97
		}
		mirror := stepFor(qs, 0)
		mirror.Metrics = []rollout.Metric{{Type: rollout.MetricShadowAgreement, Tolerance: agree, MinSamples: 500}, p.errorMetric()}
		steps, err := p.canarySteps(p.rp.firstWeight)
		if err != nil {
			return err
		}
		spec.Steps = append([]rollout.Step{{Mirror: &rollout.MirrorStep{Percent: 100, AnalysisStep: *mirror}}}, steps...)
	case ChampionChallenger:
		c := analysis.Criterion{Direction: analysis.LowerIsBetter, Tolerance: p.rp.accTol, Alpha: p.rp.alpha, MinSamples: 100}
		ss, err := analysis.PairedSampleSize(0, math.Sqrt(assumedDisagreement), analysis.Plan{Criterion: c})
		if err != nil {
			return fmt.Errorf("planning challengerLoss: %w", err)
		}
		perHour := f.LabelsPerHour
		if perHour == 0 {
			perHour = f.RequestsPerHour
		}
		q, _ := p.quote(Quote{Metric: "challengerLoss", Size: ss, Share: 1, Duration: timeFor(ss.Candidate, perHour),
			What: fmt.Sprintf("pass a challenger no worse than the champion (tolerance %s of loss) from labelled requests both scored, assuming they disagree on %s of them", pct(p.rp.accTol), pct(assumedDisagreement))}, nil)
		ch := stepFor([]Quote{q}, f.LabelDelay)
		ch.Metrics = []rollout.Metric{{Type: rollout.MetricChallengerLoss, Tolerance: p.rp.accTol, MinSamples: 100}}
		spec.Analysis.Inconclusive = "fail"
		rest, err := p.canarySteps(50)
		if err != nil {
			return err
		}
		spec.Steps = append([]rollout.Step{{Challenge: ch}}, rest...)
	case BlueGreen:
		qs, err := p.canaryQuotes(0.5)
		if err != nil {
			return err
		}
		spec.Steps = []rollout.Step{
			{Pause: &rollout.Pause{}},
			{Switch: &rollout.SwitchStep{KeepPrevious: traffic.Duration(time.Hour)}},
			{Analysis: stepFor(qs, 0)},
		}
		metrics := []rollout.Metric{p.errorMetric()}
		if p.labels {
			metrics = append(metrics, rollout.Metric{Type: rollout.MetricAccuracy, Tolerance: p.rp.accTol, MinSamples: 100})
		}
		spec.Analysis.Metrics = metrics
		a.Reasons = append(a.Reasons, "check the candidate on /v2/models/"+f.Endpoint+"/preview/infer, then `sluice rollout promote "+f.Endpoint+"-blue-green` switches")
	case Bandit:
		base := f.MeanReward
		if base == 0 {
			base = assumedReward
			a.Warnings = append(a.Warnings, fmt.Sprintf("no rewards yet: the plan assumes stable earns %g per request", assumedReward))
		}
		c := analysis.Criterion{Direction: analysis.HigherIsBetter, Tolerance: p.rp.rewardTol, Alpha: p.rp.alpha, MinSamples: 100}
		q, err := p.quote(quoteProportion("reward", fmt.Sprintf("pass a candidate earning as much as stable (tolerance −%g) with equal shares", p.rp.rewardTol),
			base, base, c, 0.5, f.RequestsPerHour))
		if err != nil {
			return err
		}
		st := stepFor([]Quote{q}, f.LabelDelay)
		st.Metrics = []rollout.Metric{{Type: rollout.MetricReward, Tolerance: p.rp.rewardTol, MinSamples: 100}}
		spec.Steps = []rollout.Step{{Bandit: &rollout.BanditStep{Algorithm: traffic.Thompson, Reward: traffic.Binary, MinShare: 0.1, AnalysisStep: *st}}}
		spec.Analysis.Metrics = []rollout.Metric{p.errorMetric(), p.latencyMetric()}
	}
	name := f.Name
	if name == "" {
		name = f.Endpoint + "-" + a.Strategy
	}
	a.Rollout = rollout.Document{APIVersion: rollout.APIVersion, Kind: rollout.Kind,
		Metadata: rollout.Metadata{Name: name}, Spec: spec}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("the planned rollout is invalid (a bug): %w", err)
	}
	return nil
}
