package monitor

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/monitor/drift"
)

// Drift keeps one live drift window per endpoint and version that has a
// baseline, fed from the request path, and compares it with the baseline on
// demand. Memory per window is fixed by the baseline's bins and the window
// options (drift.Window), so it does not grow with traffic; the number of
// windows grows only with the versions served.
type Drift struct {
	opts   drift.WindowOptions
	m      sync.Map   // versionKey → *driftSeries
	create sync.Mutex // serialises window creation
}

// DefaultDriftWindow is the live window's span when none is configured.
const DefaultDriftWindow = time.Hour

// driftSeries is the window of one endpoint and version.
type driftSeries struct {
	base    atomic.Pointer[drift.Baseline] // the baseline the window was made from, or an equal one
	w       *drift.Window
	cols    []int // baseline feature i → column of the request matrix, -1 when absent
	scratch sync.Pool

	mu       sync.Mutex
	cached   *drift.Report // guarded by mu
	cachedAt time.Time     // guarded by mu
}

// reportCache is how long a report is reused: a scrape and an API call in
// the same moment compute it once.
const reportCache = 2 * time.Second

// NewDrift returns windows made with opts (zero Size and Rows mean a time
// window of DefaultDriftWindow). It fails when opts are invalid.
func NewDrift(opts drift.WindowOptions) (*Drift, error) {
	if opts.Size == 0 && opts.Rows == 0 {
		opts.Size = DefaultDriftWindow
	}
	// Validate once with a trivial baseline so a bad flag fails at start.
	b, err := drift.BuildBaseline(drift.Sample{Columns: []drift.Column{{Name: "x", Kind: drift.Numeric, Num: []float64{0, 1}}}}, drift.BaselineOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := drift.NewWindow(b, opts); err != nil {
		return nil, err
	}
	return &Drift{opts: opts}, nil
}

// Matrix is one request's tabular input as the gateway holds it: Rows rows
// of len(Features) values, row-major, in F32 or F64.
type Matrix struct {
	// Features names the columns, in order.
	Features []string
	F32      []float32
	F64      []float64
	Rows     int
}

// Observe counts a request's rows (and the answer's predictions, row by
// row) in the window of endpoint and version, made on first use from base.
// It is safe for concurrent use and allocation-free after the window's
// first rows.
func (d *Drift) Observe(endpoint string, version int, base *drift.Baseline, in Matrix, answer Prediction, now time.Time) {
	if d == nil || base == nil || in.Rows <= 0 {
		return
	}
	s := d.series(versionKey{endpoint, version}, base, in.Features)
	if s == nil {
		return
	}
	width := len(in.Features)
	bp := s.scratch.Get().(*[]float64)
	vals := *bp
	for r := 0; r < in.Rows; r++ {
		for i, c := range s.cols {
			v := math.NaN()
			if c >= 0 {
				if in.F64 != nil {
					v = in.F64[r*width+c]
				} else {
					v = float64(in.F32[r*width+c])
				}
			}
			vals[i] = v
		}
		s.w.Observe(now, drift.Row{Values: vals, Prediction: PredictionValue(answer, r)})
	}
	s.scratch.Put(bp)
}

// PredictionValue is the value prediction drift follows for row r of a
// prediction: the score of a one-column output, the probability of class 1
// of a two-column one, and the predicted class of a wider one; NaN when the
// row is not in the prediction. A version's baseline records the same
// value for the training rows.
func PredictionValue(p Prediction, r int) float64 {
	if p.Width <= 0 || (r+1)*p.Width > len(p.Values) {
		return math.NaN()
	}
	row := p.Values[r*p.Width : (r+1)*p.Width]
	switch p.Width {
	case 1:
		return row[0]
	case 2:
		return row[1]
	}
	return float64(Class(row))
}

// series returns the window of k, making it when base is usable with the
// request's features; nil when no baseline feature is among them.
func (d *Drift) series(k versionKey, base *drift.Baseline, features []string) *driftSeries {
	v, ok := d.m.Load(k)
	if ok {
		s := v.(*driftSeries)
		if s == nil || s.base.Load() == base {
			return s
		}
		// The version was reloaded (an equal baseline), or the endpoint was
		// made again for another model (a different one: start afresh).
		if sameBaseline(s.base.Load(), base) {
			s.base.Store(base)
			return s
		}
	}
	d.create.Lock()
	defer d.create.Unlock()
	if v, ok := d.m.Load(k); ok {
		if s := v.(*driftSeries); s == nil || s.base.Load() == base {
			return s
		}
	}
	cols := make([]int, len(base.Features))
	found := false
	for i, f := range base.Features {
		cols[i] = -1
		for j, name := range features {
			if name == f.Name {
				cols[i], found = j, true
				break
			}
		}
	}
	var s *driftSeries
	if w, err := drift.NewWindow(base, d.opts); err == nil && (found || base.Prediction != nil) {
		s = &driftSeries{w: w, cols: cols}
		s.base.Store(base)
		n := len(cols)
		s.scratch.New = func() any {
			v := make([]float64, n)
			return &v
		}
	}
	// A version whose baseline does not fit its inputs is remembered as
	// nil, so it costs one map lookup per request.
	d.m.Store(k, s)
	return s
}

// sameBaseline reports whether two baselines summarise the same data: the
// same rows, features, kinds and bins.
func sameBaseline(a, b *drift.Baseline) bool {
	if a == nil || b == nil || a.Rows != b.Rows || len(a.Features) != len(b.Features) || (a.Prediction == nil) != (b.Prediction == nil) {
		return false
	}
	for i := range a.Features {
		fa, fb := &a.Features[i], &b.Features[i]
		if fa.Name != fb.Name || fa.Kind != fb.Kind || fa.Count != fb.Count {
			return false
		}
		if fa.Numeric != nil && (fb.Numeric == nil || !slices.Equal(fa.Numeric.Edges, fb.Numeric.Edges) || !slices.Equal(fa.Numeric.Counts, fb.Numeric.Counts)) {
			return false
		}
	}
	return true
}

// Report compares the window of endpoint and version with its baseline; it
// reports false when the version has no window (no baseline, or no request
// yet).
func (d *Drift) Report(endpoint string, version int, now time.Time) (*drift.Report, bool) {
	if d == nil {
		return nil, false
	}
	v, ok := d.m.Load(versionKey{endpoint, version})
	if !ok || v.(*driftSeries) == nil {
		return nil, false
	}
	return v.(*driftSeries).report(now, false), true
}

// report computes the window's report at now; cached allows one computed
// less than reportCache earlier.
func (s *driftSeries) report(now time.Time, cached bool) *drift.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cached && s.cached != nil && !now.Before(s.cachedAt) && now.Sub(s.cachedAt) < reportCache {
		return s.cached
	}
	s.cached, s.cachedAt = s.w.Report(now), now
	return s.cached
}

// VersionDrift is the live drift report of one version of an endpoint.
type VersionDrift struct {
	Endpoint string        `json:"endpoint"`
	Version  int           `json:"version"`
	Report   *drift.Report `json:"report"`
}

// Reports returns the reports of every version of endpoint with a window
// ("" for every endpoint), by endpoint then version.
func (d *Drift) Reports(endpoint string, now time.Time) []VersionDrift {
	return d.reports(endpoint, now, false)
}

// CachedReports is Reports for periodic readers (metrics scrapes, alert
// evaluation): a report computed less than two seconds earlier is reused.
func (d *Drift) CachedReports(now time.Time) []VersionDrift {
	return d.reports("", now, true)
}

func (d *Drift) reports(endpoint string, now time.Time, cached bool) []VersionDrift {
	if d == nil {
		return nil
	}
	var out []VersionDrift
	d.m.Range(func(k, v any) bool {
		key := k.(versionKey)
		s := v.(*driftSeries)
		if s == nil || (endpoint != "" && key.endpoint != endpoint) {
			return true
		}
		out = append(out, VersionDrift{Endpoint: key.endpoint, Version: key.version, Report: s.report(now, cached)})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// DriftScore sums up the input drift of one version for rollout analysis
// and alerts.
type DriftScore struct {
	// MaxPSI is the largest PSI over the input features (0 with no
	// comparable feature), and Feature the feature that has it.
	MaxPSI  float64 `json:"max_psi"`
	Feature string  `json:"feature,omitempty"`
	// Drifted is true when any input feature crossed a threshold (with
	// enough rows); DriftedFeatures counts them.
	Drifted         bool `json:"drifted"`
	DriftedFeatures int  `json:"drifted_features"`
	// PredictionPSI is the prediction's PSI, nil when the baseline has no
	// prediction or the window none yet.
	PredictionPSI *float64 `json:"prediction_psi,omitempty"`
	// Rows is the number of rows in the window.
	Rows int64 `json:"rows"`
}

// InputDrift returns the input drift of a version served by endpoint, from
// its live window at now; false when the version has no window.
func (d *Drift) InputDrift(endpoint string, version int, now time.Time) (DriftScore, bool) {
	r, ok := d.Report(endpoint, version, now)
	if !ok {
		return DriftScore{}, false
	}
	return Score(r), true
}

// Score sums up a drift report.
func Score(r *drift.Report) DriftScore {
	sc := DriftScore{Rows: r.Rows}
	for _, f := range r.Features {
		if f.PSI != nil && (sc.Feature == "" || *f.PSI > sc.MaxPSI) {
			sc.MaxPSI, sc.Feature = *f.PSI, f.Feature
		}
		if f.Drifted {
			sc.DriftedFeatures++
		}
	}
	sc.Drifted = sc.DriftedFeatures > 0
	if r.Prediction != nil && r.Prediction.PSI != nil {
		v := *r.Prediction.PSI
		sc.PredictionPSI = &v
	}
	return sc
}
