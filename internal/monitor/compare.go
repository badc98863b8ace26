package monitor

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Comparison accumulates how a mirrored version (shadow or challenger)
// compares with the version that answered, on the same requests: agreement
// for classifiers, absolute differences for scores, latency and errors,
// overall and per segment.
type Comparison struct {
	mu    sync.Mutex
	pairs map[pairKey]*PairStats // guarded by mu
}

type pairKey struct {
	endpoint string
	primary  int
	mirror   int
	segment  string
}

// PairStats is the comparison of one mirror with one primary version.
type PairStats struct {
	Endpoint string `json:"endpoint"`
	Primary  int    `json:"primary_version"`
	Mirror   int    `json:"mirror_version"`
	Role     string `json:"role"`
	// Segment is "" for all traffic, else "name=value".
	Segment string `json:"segment,omitempty"`
	// Requests compared (both answered).
	Requests int64 `json:"requests"`
	// Errors of the mirror (the primary answered, the mirror failed).
	Errors int64 `json:"errors"`
	// Rows compared.
	Rows int64 `json:"rows"`
	// AgreedRows: same class (argmax for class probabilities, threshold
	// 0.5 for a single probability); counted only for classifier outputs.
	AgreedRows int64 `json:"agreed_rows"`
	// ClassRows is the number of rows where agreement applies.
	ClassRows int64 `json:"class_rows"`
	// SumAbsDiff and MaxAbsDiff over every output value.
	SumAbsDiff float64 `json:"sum_abs_diff"`
	// SumSqAbsDiff sums the squared differences, for the spread of the
	// differences in paired tests.
	SumSqAbsDiff float64 `json:"sum_sq_abs_diff"`
	MaxAbsDiff   float64 `json:"max_abs_diff"`
	Values       int64   `json:"values"`
	// Latency of the mirror and of the primary, summed (for means) and the
	// mirror's maximum.
	MirrorLatencySum  time.Duration `json:"mirror_latency_sum_ns"`
	PrimaryLatencySum time.Duration `json:"primary_latency_sum_ns"`
	MirrorLatencyMax  time.Duration `json:"mirror_latency_max_ns"`
}

// Agreement returns the share of rows whose class agreed, or NaN when the
// outputs are not class outputs.
func (p *PairStats) Agreement() float64 {
	if p.ClassRows == 0 {
		return math.NaN()
	}
	return float64(p.AgreedRows) / float64(p.ClassRows)
}

// MeanAbsDiff returns the mean absolute difference of output values.
func (p *PairStats) MeanAbsDiff() float64 {
	if p.Values == 0 {
		return math.NaN()
	}
	return p.SumAbsDiff / float64(p.Values)
}

// NewComparison returns an empty accumulator.
func NewComparison() *Comparison { return &Comparison{pairs: map[pairKey]*PairStats{}} }

// Add records one mirrored prediction against the answer, for all traffic
// and, when segment is not "", for that segment too.
func (c *Comparison) Add(endpoint string, answer, mirror Prediction, segment string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(endpoint, answer, mirror, "")
	if segment != "" {
		c.addLocked(endpoint, answer, mirror, segment)
	}
}

func (c *Comparison) addLocked(endpoint string, a, m Prediction, segment string) {
	k := pairKey{endpoint, a.Version, m.Version, segment}
	p := c.pairs[k]
	if p == nil {
		p = &PairStats{Endpoint: endpoint, Primary: a.Version, Mirror: m.Version, Role: m.Role, Segment: segment}
		c.pairs[k] = p
	}
	if m.Err != "" {
		p.Errors++
		return
	}
	p.Requests++
	p.MirrorLatencySum += m.Latency
	p.PrimaryLatencySum += a.Latency
	if m.Latency > p.MirrorLatencyMax {
		p.MirrorLatencyMax = m.Latency
	}
	if a.Width != m.Width || len(a.Values) != len(m.Values) || a.Width == 0 {
		return // outputs of different shapes cannot be compared value by value
	}
	rows := len(a.Values) / a.Width
	p.Rows += int64(rows)
	for i := range a.Values {
		d := math.Abs(a.Values[i] - m.Values[i])
		if math.IsNaN(d) {
			continue
		}
		p.SumAbsDiff += d
		p.SumSqAbsDiff += d * d
		p.Values++
		if d > p.MaxAbsDiff {
			p.MaxAbsDiff = d
		}
	}
	if classLike(a) && classLike(m) {
		for r := 0; r < rows; r++ {
			p.ClassRows++
			if Class(a.Values[r*a.Width:(r+1)*a.Width]) == Class(m.Values[r*m.Width:(r+1)*m.Width]) {
				p.AgreedRows++
			}
		}
	}
}

// classLike reports whether a prediction looks like class output: several
// probabilities per row, or one value in [0, 1] per row.
func classLike(p Prediction) bool {
	if p.Width > 1 {
		return true
	}
	for _, v := range p.Values {
		if v < 0 || v > 1 {
			return false
		}
	}
	return true
}

// Class returns the predicted class of one row: the argmax of several
// class scores, or 1 when a single probability is at least 0.5.
func Class(row []float64) int {
	if len(row) == 1 {
		if row[0] >= 0.5 {
			return 1
		}
		return 0
	}
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// Stats returns every pair for endpoint, ordered by mirror version then
// segment.
func (c *Comparison) Stats(endpoint string) []PairStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PairStats
	for k, p := range c.pairs {
		if k.endpoint == endpoint {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Mirror != out[j].Mirror {
			return out[i].Mirror < out[j].Mirror
		}
		if out[i].Primary != out[j].Primary {
			return out[i].Primary < out[j].Primary
		}
		return out[i].Segment < out[j].Segment
	})
	return out
}
