package api

import (
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/traffic"
)

// DataPlane is what the API reads from the serving side of this process:
// the routing table and what the monitors counted.
type DataPlane struct {
	Gateway    *gateway.Gateway
	Live       *monitor.Live
	Comparison *monitor.Comparison
	Outcomes   *monitor.Outcomes
	// Drift, Performance and Fairness are the monitors behind the drift,
	// performance and fairness routes; nil ones answer empty.
	Drift       *monitor.Drift
	Performance *monitor.Performance
	Fairness    *monitor.Fairness
	// DriftWindow describes the live drift window ("1h0m0s", "10000 rows").
	DriftWindow string
}

func (a *API) setTraffic(w http.ResponseWriter, r *http.Request) {
	var p traffic.Policy
	if err := decodeJSON(r, w, &p); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := a.reg.UpdateEndpoint(r.Context(), r.PathValue("name"), func(sp *registry.EndpointSpec) error {
		sp.Traffic = &p
		sp.Rolling = nil // a policy set by hand ends a rolling shift
		return nil
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.withLive(endpointView(e)))
}

// withLive adds the current traffic shares and live counters.
func (a *API) withLive(e apiclient.Endpoint) apiclient.Endpoint {
	dp := a.opts.DataPlane
	if dp.Gateway == nil {
		return e
	}
	var plan *traffic.Plan
	var ep *gateway.Endpoint
	if s := dp.Gateway.Current(); s != nil {
		if ep = s.Endpoints[e.Name]; ep != nil {
			plan = ep.Plan
		}
	}
	if plan != nil {
		for _, sh := range plan.Shares() {
			e.Shares = append(e.Shares, apiclient.Share{Version: sh.Version, Role: string(sh.Role), Share: sh.Share})
		}
	}
	seen := map[int]bool{}
	if dp.Live != nil {
		for _, st := range dp.Live.Stats(e.Name) {
			vl := apiclient.VersionLive{Version: st.Version, Requests: st.Requests, Errors: st.Errors}
			if st.Requests > 0 {
				vl.MeanLatencyMS = float64(st.Latency) / float64(st.Requests) / float64(time.Millisecond)
			}
			if plan != nil {
				vl.Role = string(plan.Role(st.Version))
			}
			if ep != nil {
				vl.Loaded = ep.Backends[st.Version].Ready()
			}
			seen[st.Version] = true
			e.Live = append(e.Live, vl)
		}
	}
	if ep != nil && plan != nil {
		for _, v := range plan.Loaded() {
			if !seen[v] {
				e.Live = append(e.Live, apiclient.VersionLive{Version: v, Role: string(plan.Role(v)), Loaded: ep.Backends[v].Ready()})
			}
		}
	}
	return e
}

func ptr(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func (a *API) compare(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := a.reg.GetEndpoint(r.Context(), name); err != nil {
		a.writeError(w, r, err)
		return
	}
	dp := a.opts.DataPlane
	out := apiclient.Comparison{Endpoint: name, Mirrors: []apiclient.MirrorComparison{}, Outcomes: []apiclient.VersionOutcome{}, Paired: []apiclient.PairedOutcome{}}
	if dp.Comparison != nil {
		for _, p := range dp.Comparison.Stats(name) {
			mc := apiclient.MirrorComparison{
				Primary: p.Primary, Mirror: p.Mirror, Role: p.Role, Segment: p.Segment,
				Requests: p.Requests, Errors: p.Errors, Rows: p.Rows,
				Agreement: ptr(p.Agreement()), MeanAbsDiff: ptr(p.MeanAbsDiff()), MaxAbsDiff: p.MaxAbsDiff,
			}
			if p.Requests > 0 {
				mc.MirrorLatencyMS = float64(p.MirrorLatencySum) / float64(p.Requests) / float64(time.Millisecond)
				mc.PrimaryLatencyMS = float64(p.PrimaryLatencySum) / float64(p.Requests) / float64(time.Millisecond)
			}
			out.Mirrors = append(out.Mirrors, mc)
		}
	}
	if dp.Outcomes != nil {
		for _, o := range dp.Outcomes.Versions(name) {
			vo := apiclient.VersionOutcome{Version: o.Version, Labeled: o.Labeled, Rewards: o.Rewards}
			if o.ClassRows > 0 {
				vo.Accuracy = ptr(float64(o.Correct) / float64(o.ClassRows))
			}
			if reg := o.Rows - o.ClassRows; reg > 0 {
				vo.RMSE = ptr(math.Sqrt(o.SumSqErr / float64(reg)))
			}
			if o.Rewards > 0 {
				vo.MeanReward = ptr(o.SumReward / float64(o.Rewards))
			}
			out.Outcomes = append(out.Outcomes, vo)
		}
		for _, p := range dp.Outcomes.Pairs(name) {
			v := p.Verdict()
			out.Paired = append(out.Paired, apiclient.PairedOutcome{Champion: p.Champion, Challenger: p.Challenger, N: p.N,
				MeanDiff: finite(v.MeanDiff), Low: finite(v.Low), High: finite(v.High), P: finite(v.P), Better: v.Better})
		}
	}
	if dp.Gateway != nil {
		out.MirrorDropped = dp.Gateway.MirrorStats().Dropped
	}
	writeJSON(w, http.StatusOK, out)
}

// finite maps NaN (too few pairs) to 0 for JSON; Better says "undecided".
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func (a *API) startRolling(w http.ResponseWriter, r *http.Request) {
	var req apiclient.Rolling
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := a.reg.StartRolling(r.Context(), r.PathValue("name"), registry.Rolling{
		From: req.From, To: req.To, Steps: req.Steps, Interval: req.Interval, MaxErrorRate: req.MaxErrorRate,
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.withLive(endpointView(e)))
}
