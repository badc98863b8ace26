package monitor

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Feedback is a label or reward for an earlier request.
type Feedback struct {
	// RequestID of the prediction (the Sluice-Request-Id it was answered with).
	RequestID string
	// Labels holds the true value per row (a class index or a target), or
	// nil when only a reward was given.
	Labels []float64
	// Reward, when HasReward, is a business reward for the answer (bandits,
	// custom KPIs).
	Reward    float64
	HasReward bool
	// At is when the feedback arrived; zero means now. With the request's
	// time it gives the feedback delay.
	At time.Time
}

// Loss is how wrong one prediction was against the labels: the error rate
// over rows for class outputs, the mean squared error otherwise.
func Loss(p Prediction, labels []float64) (loss float64, classRows, correct int, sqErr float64, err error) {
	if p.Width == 0 || len(p.Values) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("the prediction has no values to compare")
	}
	rows := len(p.Values) / p.Width
	if len(labels) != rows {
		return 0, 0, 0, 0, fmt.Errorf("label has %d values, the request had %d rows", len(labels), rows)
	}
	if classLike(p) && isClassLabels(labels, p.Width) {
		for r := 0; r < rows; r++ {
			if Class(p.Values[r*p.Width:(r+1)*p.Width]) == int(labels[r]) {
				correct++
			}
		}
		return 1 - float64(correct)/float64(rows), rows, correct, 0, nil
	}
	if p.Width != 1 {
		return 0, 0, 0, 0, fmt.Errorf("labels for a %d-column output must be class indexes 0..%d", p.Width, p.Width-1)
	}
	for r := 0; r < rows; r++ {
		d := p.Values[r] - labels[r]
		sqErr += d * d
	}
	return sqErr / float64(rows), 0, 0, sqErr, nil
}

func isClassLabels(labels []float64, width int) bool {
	k := width
	if k == 1 {
		k = 2
	}
	for _, l := range labels {
		if l != math.Trunc(l) || l < 0 || int(l) >= k {
			return false
		}
	}
	return true
}

// VersionOutcome is what feedback says about one version of an endpoint.
type VersionOutcome struct {
	Endpoint string `json:"endpoint"`
	Version  int    `json:"version"`
	// Labeled is the number of requests with labels; Rows their rows.
	Labeled int64 `json:"labeled"`
	Rows    int64 `json:"rows"`
	// ClassRows and Correct count class predictions and the right ones.
	ClassRows int64 `json:"class_rows"`
	Correct   int64 `json:"correct"`
	// SumSqErr over regression rows.
	SumSqErr float64 `json:"sum_sq_err"`
	// MSEN requests had regression rows; MSESum and MSESumSq sum each such
	// request's mean squared error and its square, so that tests on the
	// mean squared error have a variance.
	MSEN     int64   `json:"mse_n"`
	MSESum   float64 `json:"mse_sum"`
	MSESumSq float64 `json:"mse_sum_sq"`
	// Rewards, SumReward and SumRewardSq over requests with a reward.
	Rewards     int64   `json:"rewards"`
	SumReward   float64 `json:"sum_reward"`
	SumRewardSq float64 `json:"sum_reward_sq"`
}

// addLoss counts one labelled request's loss figures.
func (v *VersionOutcome) addLoss(rows, class, correct int, sq float64) {
	v.Labeled++
	v.Rows += int64(rows)
	v.ClassRows += int64(class)
	v.Correct += int64(correct)
	v.SumSqErr += sq
	if reg := rows - class; reg > 0 {
		mse := sq / float64(reg)
		v.MSEN++
		v.MSESum += mse
		v.MSESumSq += mse * mse
	}
}

// PairedOutcome compares a challenger (or shadow) with the version that
// answered, on the same labelled requests. Diff is the answering version's
// loss minus the challenger's: positive means the challenger is better.
type PairedOutcome struct {
	Endpoint   string  `json:"endpoint"`
	Champion   int     `json:"champion_version"`
	Challenger int     `json:"challenger_version"`
	N          int64   `json:"n"`
	SumDiff    float64 `json:"sum_diff"`
	SumDiffSq  float64 `json:"sum_diff_sq"`
}

// Verdict summarises a paired comparison: the mean loss difference, its 95%
// confidence interval, and the two-sided p-value of "no difference" from a
// paired z-test (normal approximation; needs some tens of pairs).
type Verdict struct {
	MeanDiff float64 `json:"mean_diff"`
	Low      float64 `json:"ci95_low"`
	High     float64 `json:"ci95_high"`
	P        float64 `json:"p_value"`
	// Better is "challenger", "champion" or "undecided" at the 5% level.
	Better string `json:"better"`
}

// Verdict computes the paired comparison's verdict.
func (p PairedOutcome) Verdict() Verdict {
	if p.N < 2 {
		return Verdict{MeanDiff: math.NaN(), Low: math.NaN(), High: math.NaN(), P: math.NaN(), Better: "undecided"}
	}
	n := float64(p.N)
	mean := p.SumDiff / n
	variance := (p.SumDiffSq - n*mean*mean) / (n - 1)
	if variance < 0 {
		variance = 0
	}
	se := math.Sqrt(variance / n)
	v := Verdict{MeanDiff: mean, Low: mean - 1.959964*se, High: mean + 1.959964*se, Better: "undecided"}
	switch {
	case se == 0 && mean == 0:
		v.P = 1
	case se == 0:
		v.P = 0
	default:
		v.P = math.Erfc(math.Abs(mean/se) / math.Sqrt2)
	}
	if v.P < 0.05 {
		if mean > 0 {
			v.Better = "challenger"
		} else {
			v.Better = "champion"
		}
	}
	return v
}

// Outcomes accumulates joined feedback per version and per pair.
type Outcomes struct {
	mu       sync.Mutex
	versions map[versionKey]*VersionOutcome // guarded by mu
	pairs    map[pairKey]*PairedOutcome     // guarded by mu; segment unused
	delays   map[string]*FeedbackDelay      // by endpoint; guarded by mu
}

// FeedbackDelay is how long after their requests labels and rewards
// arrived at an endpoint.
type FeedbackDelay struct {
	// N is the number of joined feedback items.
	N int64 `json:"n"`
	// Sum and Max are in seconds.
	Sum float64 `json:"sum_seconds"`
	Max float64 `json:"max_seconds"`
}

// Mean is the mean delay, 0 without feedback.
func (d FeedbackDelay) Mean() time.Duration {
	if d.N == 0 {
		return 0
	}
	return time.Duration(d.Sum / float64(d.N) * float64(time.Second))
}

// Delay returns the feedback delay of an endpoint's joined feedback.
func (o *Outcomes) Delay(endpoint string) FeedbackDelay {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.delays[endpoint]; d != nil {
		return *d
	}
	return FeedbackDelay{}
}

type versionKey struct {
	endpoint string
	version  int
}

// NewOutcomes returns an empty accumulator.
func NewOutcomes() *Outcomes {
	return &Outcomes{versions: map[versionKey]*VersionOutcome{}, pairs: map[pairKey]*PairedOutcome{}, delays: map[string]*FeedbackDelay{}}
}

// Join scores a remembered request against its feedback: the answering
// version, and every mirrored version paired with it.
func (o *Outcomes) Join(req Request, fb Feedback) error {
	var ansLoss float64
	var ansClass, ansCorrect int
	var ansSq float64
	var err error
	if fb.Labels != nil {
		if ansLoss, ansClass, ansCorrect, ansSq, err = Loss(req.Answer, fb.Labels); err != nil {
			return err
		}
	}
	at := fb.At
	if at.IsZero() {
		at = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !req.Time.IsZero() {
		d := o.delays[req.Endpoint]
		if d == nil {
			d = &FeedbackDelay{}
			o.delays[req.Endpoint] = d
		}
		secs := max(at.Sub(req.Time).Seconds(), 0)
		d.N++
		d.Sum += secs
		d.Max = max(d.Max, secs)
	}
	vo := o.versionLocked(req.Endpoint, req.Answer.Version)
	if fb.Labels != nil {
		vo.addLoss(len(fb.Labels), ansClass, ansCorrect, ansSq)
	}
	if fb.HasReward {
		vo.Rewards++
		vo.SumReward += fb.Reward
		vo.SumRewardSq += fb.Reward * fb.Reward
	}
	if fb.Labels == nil {
		return nil
	}
	for _, m := range req.Mirrors {
		if m.Err != "" {
			continue
		}
		loss, cls, corr, sq, err := Loss(m, fb.Labels)
		if err != nil {
			continue
		}
		o.versionLocked(req.Endpoint, m.Version).addLoss(len(fb.Labels), cls, corr, sq)
		k := pairKey{endpoint: req.Endpoint, primary: req.Answer.Version, mirror: m.Version}
		p := o.pairs[k]
		if p == nil {
			p = &PairedOutcome{Endpoint: req.Endpoint, Champion: req.Answer.Version, Challenger: m.Version}
			o.pairs[k] = p
		}
		d := ansLoss - loss
		p.N++
		p.SumDiff += d
		p.SumDiffSq += d * d
	}
	return nil
}

func (o *Outcomes) versionLocked(endpoint string, version int) *VersionOutcome {
	k := versionKey{endpoint, version}
	v := o.versions[k]
	if v == nil {
		v = &VersionOutcome{Endpoint: endpoint, Version: version}
		o.versions[k] = v
	}
	return v
}

// Versions returns the per-version outcomes of an endpoint, by version.
func (o *Outcomes) Versions(endpoint string) []VersionOutcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []VersionOutcome
	for k, v := range o.versions {
		if k.endpoint == endpoint {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Pairs returns the paired comparisons of an endpoint.
func (o *Outcomes) Pairs(endpoint string) []PairedOutcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []PairedOutcome
	for k, p := range o.pairs {
		if k.endpoint == endpoint {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Champion != out[j].Champion {
			return out[i].Champion < out[j].Champion
		}
		return out[i].Challenger < out[j].Challenger
	})
	return out
}
