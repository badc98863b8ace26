package jobs

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/store"
)

// DriftSummary is a run's (or a shard's) input drift against the model
// version's baseline, or why there is none.
type DriftSummary struct {
	// Baseline is true when the version has a baseline to compare with.
	Baseline bool `json:"baseline"`
	// Message says why drift was not computed, when it was not.
	Message string `json:"message,omitempty"`
	// Drifted is true when any shard's input drifted.
	Drifted bool `json:"drifted,omitempty"`
	// Shards holds each shard's report, by shard index.
	Shards []*drift.Report `json:"shards,omitempty"`
	// Report is a shard's own report (in a shard's record).
	Report *drift.Report `json:"report,omitempty"`
}

// DriftMonitor counts scored rows on a baseline's bins: a job's shard, or
// a local `sluice batch run`. Its Observe is a batch.Options.Observe.
type DriftMonitor struct {
	w     *drift.Window
	index []int // model feature index for each baseline feature, -1 if absent
	at    time.Time
}

// windowSpan is a window longer than any shard, so one shard's rows all
// fall in it.
const windowSpan = 100 * 365 * 24 * time.Hour

// NewDriftMonitor returns a monitor of the rows m scores, compared with
// the baseline b.
func NewDriftMonitor(b *drift.Baseline, m inference.Model) (*DriftMonitor, error) {
	sig := m.Signature()
	in, ok := sig.TabularInput()
	if !ok {
		return nil, fmt.Errorf("the model has no tabular input")
	}
	pos := map[string]int{}
	for i, f := range in.Features {
		pos[f.Name] = i
	}
	md := &DriftMonitor{at: time.Now()}
	for _, d := range b.Features {
		i, ok := pos[d.Name]
		if !ok {
			i = -1
		}
		md.index = append(md.index, i)
	}
	w, err := drift.NewWindow(b, drift.WindowOptions{Size: windowSpan, Slots: 1})
	if err != nil {
		return nil, err
	}
	md.w = w
	return md, nil
}

// Observe counts one scored row and its prediction; it is safe to call
// from several goroutines at once.
func (m *DriftMonitor) Observe(x []float32, prediction float64) {
	vals := make([]float64, len(m.index))
	for i, j := range m.index {
		if j < 0 {
			vals[i] = math.NaN()
		} else {
			vals[i] = float64(x[j])
		}
	}
	m.w.Observe(m.at, drift.Row{Values: vals, Prediction: prediction})
}

// Summary is the drift of the rows observed so far.
func (m *DriftMonitor) Summary() DriftSummary {
	return DriftSummary{Baseline: true, Report: m.w.Report(m.at)}
}

// summary builds a run's drift from its shards' records when the last
// shard completes.
func (s *Service) summary(run store.JobRun) store.RunSummary {
	return func(shards []store.Shard) json.RawMessage {
		out := DriftSummary{}
		for _, sh := range shards {
			var d DriftSummary
			if len(sh.Drift) == 0 || json.Unmarshal(sh.Drift, &d) != nil {
				continue
			}
			if d.Message != "" && out.Message == "" {
				out.Message = d.Message
			}
			if d.Report != nil {
				out.Baseline = true
				out.Drifted = out.Drifted || d.Report.Drifted
			}
			out.Shards = append(out.Shards, d.Report)
		}
		if !out.Baseline {
			out.Shards = nil
			if out.Message == "" {
				out.Message = fmt.Sprintf("no baseline is stored for %s@%d, so input drift was not computed", run.Model, run.Version)
			}
		}
		b, _ := json.Marshal(out)
		return b
	}
}
