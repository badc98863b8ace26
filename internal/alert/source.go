package alert

import (
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/monitor"
)

// Monitors are the numbers rules read. Any may be nil.
type Monitors struct {
	Live        *monitor.Live
	Drift       *monitor.Drift
	Performance *monitor.Performance
	Fairness    *monitor.Fairness
}

// rateWindow is the span error_rate and requests cover.
const rateWindow = 5 * time.Minute

// MonitorSource returns a Source over the monitors' current numbers (see
// Metrics for the names and labels). error_rate and requests are computed
// from the counters' change over the last five minutes, from snapshots the
// source keeps at each evaluation (bounded by the window).
func MonitorSource(m Monitors) Source {
	var mu sync.Mutex
	type snap struct {
		at     time.Time
		counts map[[2]string][2]int64 // endpoint, version → requests, errors
	}
	var history []snap
	return func(now time.Time) []Sample {
		var out []Sample
		ev := func(endpoint string, version int) map[string]string {
			return map[string]string{"endpoint": endpoint, "version": strconv.Itoa(version)}
		}
		add := func(metric string, labels map[string]string, v float64) {
			out = append(out, Sample{Metric: metric, Labels: labels, Value: v})
		}
		for _, vd := range m.Drift.CachedReports(now) {
			sc := monitor.Score(vd.Report)
			add("drift_rows", ev(vd.Endpoint, vd.Version), float64(sc.Rows))
			add("drift_psi_max", ev(vd.Endpoint, vd.Version), sc.MaxPSI)
			add("drift_features", ev(vd.Endpoint, vd.Version), float64(sc.DriftedFeatures))
			if sc.PredictionPSI != nil {
				add("prediction_drift_psi", ev(vd.Endpoint, vd.Version), *sc.PredictionPSI)
			}
			for _, f := range vd.Report.Features {
				fl := func() map[string]string {
					l := ev(vd.Endpoint, vd.Version)
					l["feature"] = f.Feature
					return l
				}
				if f.PSI != nil {
					add("drift_psi", fl(), *f.PSI)
				}
				if f.JS != nil {
					add("drift_js", fl(), *f.JS)
				}
				if f.KSPValue != nil {
					add("drift_pvalue", fl(), *f.KSPValue)
				} else if f.Chi2PValue != nil {
					add("drift_pvalue", fl(), *f.Chi2PValue)
				}
			}
		}
		for _, vp := range m.Performance.Versions("", now) {
			for name, v := range vp.Window.Metrics() {
				add(name, ev(vp.Endpoint, vp.Version), v)
			}
			add("labeled", ev(vp.Endpoint, vp.Version), float64(vp.Window.Labeled))
		}
		for _, vg := range m.Fairness.Versions("") {
			f := analysis.FairnessOf(GroupCounts(vg.Groups))
			if f.DemographicParityDifference != nil {
				add("demographic_parity_difference", ev(vg.Endpoint, vg.Version), f.DemographicParityDifference.Value)
			}
			if f.DisparateImpactRatio != nil {
				add("disparate_impact_ratio", ev(vg.Endpoint, vg.Version), f.DisparateImpactRatio.Value)
			}
			if f.EqualOpportunityDifference != nil {
				add("equal_opportunity_difference", ev(vg.Endpoint, vg.Version), f.EqualOpportunityDifference.Value)
			}
		}
		if m.Live != nil {
			cur := map[[2]string][2]int64{}
			for _, s := range m.Live.Series() {
				k := [2]string{s.Endpoint, strconv.Itoa(s.Version)}
				c := cur[k]
				c[0] += s.Requests
				for kind, n := range s.Errors {
					if kind != "input" {
						c[1] += n
					}
				}
				cur[k] = c
			}
			mu.Lock()
			history = append(history, snap{at: now, counts: cur})
			for len(history) > 1 && now.Sub(history[1].at) >= rateWindow {
				history = history[1:]
			}
			old := history[0]
			mu.Unlock()
			for k, c := range cur {
				o := old.counts[k]
				if old.at.Equal(now) {
					o = [2]int64{}
				}
				req, errs := c[0]-o[0], c[1]-o[1]
				labels := map[string]string{"endpoint": k[0], "version": k[1]}
				add("requests", labels, float64(req))
				if req > 0 {
					add("error_rate", map[string]string{"endpoint": k[0], "version": k[1]}, float64(errs)/float64(req))
				}
			}
		}
		return out
	}
}

// GroupCounts converts the monitor's group counts for analysis.FairnessOf.
func GroupCounts(gs []monitor.GroupCounts) []analysis.GroupCount {
	out := make([]analysis.GroupCount, len(gs))
	for i, g := range gs {
		out[i] = analysis.GroupCount{Group: g.Group, Rows: g.Rows, Selected: g.Selected, Positives: g.Positives, TruePositives: g.TruePositives}
	}
	return out
}
