package rollout

import (
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
)

// Phase is where a rollout is in its life.
type Phase string

// The phases. Promoted, RolledBack, Aborted and Superseded are final.
const (
	// Pending: created; the controller has not started it yet.
	Pending Phase = "Pending"
	// AwaitingApproval: the endpoint needs an approver's yes first.
	AwaitingApproval Phase = "AwaitingApproval"
	// Progressing: running its steps.
	Progressing Phase = "Progressing"
	// Paused: waiting for a person (an indefinite pause step, `sluice
	// rollout pause`, an inconclusive analysis, or a failure with
	// onFailure: pause). Traffic stays as it is.
	Paused Phase = "Paused"
	// Promoted: the candidate serves all traffic.
	Promoted Phase = "Promoted"
	// RolledBack: a failure sent all traffic back to stable.
	RolledBack Phase = "RolledBack"
	// Aborted: a person stopped it; traffic is back on stable.
	Aborted Phase = "Aborted"
	// Superseded: a newer rollout of the same endpoint took over.
	Superseded Phase = "Superseded"
	// Blocked: a pre-deployment gate failed; the candidate never got
	// traffic.
	Blocked Phase = "Blocked"
)

// Final reports whether a rollout in phase p is over.
func (p Phase) Final() bool {
	return p == Promoted || p == RolledBack || p == Aborted || p == Superseded || p == Blocked
}

// Status is a rollout's persisted state. Every transition writes it in the
// same transaction as the traffic change it makes.
type Status struct {
	Phase Phase `json:"phase"`
	// Message says why the rollout is where it is.
	Message string `json:"message,omitempty"`
	// Stable and Candidate are the resolved version numbers.
	Stable    int `json:"stable,omitempty"`
	Candidate int `json:"candidate,omitempty"`
	// Step is the index of the current step; len(steps) once all ran.
	Step int `json:"step"`
	// StepStarted is when the current step began. Time the rollout spent
	// paused by a person is added to it on resume, so a pause step's clock
	// stops meanwhile; a restart of the server does not stop it.
	StepStarted time.Time `json:"stepStarted,omitzero"`
	// Weight is the candidate's share of answering traffic, percent.
	Weight float64 `json:"weight"`
	// Mode is how traffic is divided now: "canary", "mirror", "challenge",
	// "bandit", "preview" (blue-green before the switch) or "switched".
	Mode string `json:"mode,omitempty"`
	// PausedAt is when a person paused the rollout; PausedStep is set when
	// the pause is a step waiting for promote.
	PausedAt time.Time `json:"pausedAt,omitzero"`
	// Failed is set when the rollout is paused because it failed
	// (onFailure: pause).
	Failed bool `json:"failed,omitempty"`
	// Original is the endpoint's spec before the rollout changed it, which
	// rollback and abort restore.
	Original []byte `json:"original,omitempty"`
	// StartMark holds the counters when the candidate was first loaded,
	// StepMark those when the current step began, SwitchMark those at a
	// blue-green switch.
	StartMark  *Mark `json:"startMark,omitempty"`
	StepMark   *Mark `json:"stepMark,omitempty"`
	SwitchMark *Mark `json:"switchMark,omitempty"`
	// LastAnalysis is when the step's metrics were last evaluated.
	LastAnalysis time.Time `json:"lastAnalysis,omitzero"`
	// Analysis is the latest evaluation of the current (or last) analysis
	// step, Background that of the whole rollout so far.
	Analysis   []analysis.Result `json:"analysis,omitempty"`
	Background []analysis.Result `json:"background,omitempty"`
	// Verdict is the last analysis verdict: pass, fail or inconclusive.
	Verdict analysis.Decision `json:"verdict,omitempty"`
	// Gates are the pre-deployment gates' results.
	Gates []GateResult `json:"gates,omitempty"`
	// Approval is the approval request a rollout waits for.
	Approval   string    `json:"approval,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Mark is a snapshot of what the monitors counted for the stable and the
// candidate version; analysis looks at the difference of two marks.
type Mark struct {
	At        time.Time        `json:"at"`
	Stable    VersionMark      `json:"stable"`
	Candidate VersionMark      `json:"candidate"`
	Shadow    ShadowMark       `json:"shadow"`
	Paired    analysis.Moments `json:"paired"`
}

// VersionMark is one version's counters.
type VersionMark struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Latency  []int64 `json:"latency,omitempty"` // per monitor.LatencyBuckets bucket, then +Inf
	// From feedback.
	ClassRows int64   `json:"classRows,omitempty"`
	Correct   int64   `json:"correct,omitempty"`
	MSEN      int64   `json:"mseN,omitempty"`
	MSESum    float64 `json:"mseSum,omitempty"`
	MSESumSq  float64 `json:"mseSumSq,omitempty"`
	Rewards   int64   `json:"rewards,omitempty"`
	RewardSum float64 `json:"rewardSum,omitempty"`
	RewardSq  float64 `json:"rewardSq,omitempty"`
	// Drift is the input drift of the version's live window when the mark
	// was taken (a level, not a counter: analysis reads the latest mark's).
	Drift *DriftMark `json:"drift,omitempty"`
}

// DriftMark is a version's input drift against its baseline.
type DriftMark struct {
	PSI     float64 `json:"psi"`
	Feature string  `json:"feature,omitempty"`
	Rows    int64   `json:"rows"`
}

// ShadowMark is the comparison of the candidate, mirrored, with stable.
type ShadowMark struct {
	ClassRows int64   `json:"classRows,omitempty"`
	Agreed    int64   `json:"agreed,omitempty"`
	Values    int64   `json:"values,omitempty"`
	SumAbs    float64 `json:"sumAbs,omitempty"`
	SumSqAbs  float64 `json:"sumSqAbs,omitempty"`
}

// since returns the counts between an earlier mark m0 and m. Counters that
// went down (the server restarted and its monitors began at zero) give m's
// own counts: what was counted since the restart.
func (m *Mark) since(m0 *Mark) *Mark {
	if m0 == nil {
		return m
	}
	d := &Mark{At: m.At}
	var ok bool
	if d.Stable, ok = m.Stable.since(m0.Stable); !ok {
		return m
	}
	if d.Candidate, ok = m.Candidate.since(m0.Candidate); !ok {
		return m
	}
	s, s0 := m.Shadow, m0.Shadow
	d.Shadow = ShadowMark{ClassRows: s.ClassRows - s0.ClassRows, Agreed: s.Agreed - s0.Agreed, Values: s.Values - s0.Values,
		SumAbs: s.SumAbs - s0.SumAbs, SumSqAbs: s.SumSqAbs - s0.SumSqAbs}
	if d.Shadow.ClassRows < 0 || d.Shadow.Values < 0 {
		return m
	}
	d.Paired = momentsSince(m.Paired, m0.Paired)
	if d.Paired.N < 0 {
		return m
	}
	return d
}

func (v VersionMark) since(v0 VersionMark) (VersionMark, bool) {
	d := VersionMark{
		Requests: v.Requests - v0.Requests, Errors: v.Errors - v0.Errors,
		ClassRows: v.ClassRows - v0.ClassRows, Correct: v.Correct - v0.Correct,
		MSEN: v.MSEN - v0.MSEN, MSESum: v.MSESum - v0.MSESum, MSESumSq: v.MSESumSq - v0.MSESumSq,
		Rewards: v.Rewards - v0.Rewards, RewardSum: v.RewardSum - v0.RewardSum, RewardSq: v.RewardSq - v0.RewardSq,
		Drift: v.Drift, // a level: the latest reading
	}
	if d.Requests < 0 || d.Errors < 0 || d.ClassRows < 0 || d.MSEN < 0 || d.Rewards < 0 {
		return VersionMark{}, false
	}
	d.Latency = make([]int64, len(v.Latency))
	for i := range v.Latency {
		d.Latency[i] = v.Latency[i]
		if i < len(v0.Latency) {
			d.Latency[i] -= v0.Latency[i]
		}
		if d.Latency[i] < 0 {
			return VersionMark{}, false
		}
	}
	return d, true
}

// momentsFromSums builds Welford moments from a count, a sum and a sum of
// squares.
func momentsFromSums(n int64, sum, sumSq float64) analysis.Moments {
	if n <= 0 {
		return analysis.Moments{}
	}
	mean := sum / float64(n)
	m2 := sumSq - float64(n)*mean*mean
	if m2 < 0 {
		m2 = 0
	}
	return analysis.Moments{N: n, Mean: mean, M2: m2}
}

// momentsSince removes the observations summarised by m0 from m (m0's are a
// prefix of m's).
func momentsSince(m, m0 analysis.Moments) analysis.Moments {
	if m0.N == 0 {
		return m
	}
	n := m.N - m0.N
	if n <= 0 {
		return analysis.Moments{N: n}
	}
	sum := m.Mean*float64(m.N) - m0.Mean*float64(m0.N)
	sumSq := m.M2 + float64(m.N)*m.Mean*m.Mean - (m0.M2 + float64(m0.N)*m0.Mean*m0.Mean)
	return momentsFromSums(n, sum, sumSq)
}
