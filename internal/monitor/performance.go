package monitor

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Performance accumulates, per endpoint and version, how good the
// predictions were once their labels arrived: a confusion matrix, binned
// scores for ROC AUC, log loss, squared and absolute errors, and how late
// the labels came. It keeps the totals since the server started and a
// sliding window of the labels received in the last Window, in slots, so
// memory per version is fixed whatever the traffic.
type Performance struct {
	window time.Duration
	slotNS int64
	nslots int

	mu     sync.Mutex
	series map[versionKey]*perfSeries // guarded by mu
}

// PerformanceOptions configures the window.
type PerformanceOptions struct {
	// Window is the span of the sliding window; 0 means one hour.
	Window time.Duration
	// Slots is how many steps it slides by; 0 means 12.
	Slots int
}

// ScoreBins is the number of equal-width bins on [0, 1] that binary scores
// are counted in for ROC AUC. Pairs of a positive and a negative in one
// bin count as half-ordered, so the AUC is within
// PerformanceStats.ROCAUCErrorBound of the exact value.
const ScoreBins = 1000

// maxClasses bounds the classes tracked per class for macro averages.
const maxClasses = 64

// DelayBuckets are the upper bounds, in seconds, of the label delay
// histogram.
var DelayBuckets = []float64{1, 10, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600}

// perfCounts are the sums behind the metrics of one span.
type perfCounts struct {
	labeled int64 // requests with labels

	classRows, correct int64
	// binary, positive class 1
	tp, fp, fn, tn int64
	pos, neg       []uint32 // per score bin; nil until a binary score arrives
	// multi-class, per class index (capped at maxClasses)
	ctp, cfp, cfn []int64
	maxClass      int
	logLossSum    float64
	logLossRows   int64

	regRows        int64
	sumSq, sumAbs  float64
	delays         int64
	delaySum       float64
	delayMax       float64
	delayHist      [10]int64 // per DelayBuckets bound, then +Inf
	binary, multic bool
}

type perfSlot struct {
	epoch int64
	c     perfCounts
}

type perfSeries struct {
	total perfCounts
	slots []perfSlot
}

// NewPerformance returns empty accumulators.
func NewPerformance(opts PerformanceOptions) *Performance {
	if opts.Window <= 0 {
		opts.Window = time.Hour
	}
	if opts.Slots <= 0 {
		opts.Slots = 12
	}
	return &Performance{window: opts.Window, slotNS: int64(opts.Window) / int64(opts.Slots), nslots: opts.Slots, series: map[versionKey]*perfSeries{}}
}

// Window returns the span of the sliding window.
func (p *Performance) Window() time.Duration { return p.window }

// Join counts the labels of a remembered request, received at now, for the
// version that answered and for every mirrored version that did not fail.
// Labels that do not fit a prediction (a wrong row count) are skipped for
// that prediction.
func (p *Performance) Join(req Request, labels []float64, now time.Time) {
	if p == nil || labels == nil {
		return
	}
	delay := now.Sub(req.Time).Seconds()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addLocked(req.Endpoint, req.Answer, labels, delay, now)
	for _, m := range req.Mirrors {
		if m.Err == "" {
			p.addLocked(req.Endpoint, m, labels, delay, now)
		}
	}
}

func (p *Performance) addLocked(endpoint string, pr Prediction, labels []float64, delay float64, now time.Time) {
	if pr.Width == 0 || len(pr.Values) != len(labels)*pr.Width {
		return
	}
	k := versionKey{endpoint, pr.Version}
	s := p.series[k]
	if s == nil {
		s = &perfSeries{slots: make([]perfSlot, p.nslots)}
		for i := range s.slots {
			s.slots[i].epoch = math.MinInt64
		}
		p.series[k] = s
	}
	ep := floorDiv(now.UnixNano(), p.slotNS)
	sl := &s.slots[int(ep-floorDiv(ep, int64(p.nslots))*int64(p.nslots))]
	if sl.epoch != ep {
		*sl = perfSlot{epoch: ep}
	}
	s.total.add(pr, labels, delay)
	sl.c.add(pr, labels, delay)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add counts one labelled prediction.
func (c *perfCounts) add(pr Prediction, labels []float64, delay float64) {
	c.labeled++
	c.delays++
	c.delaySum += delay
	c.delayMax = math.Max(c.delayMax, delay)
	c.delayHist[sort.SearchFloat64s(DelayBuckets, delay)]++
	rows := len(labels)
	if !classLike(pr) || !isClassLabels(labels, pr.Width) {
		if pr.Width != 1 {
			return
		}
		for r := 0; r < rows; r++ {
			d := pr.Values[r] - labels[r]
			if math.IsNaN(d) {
				continue
			}
			c.regRows++
			c.sumSq += d * d
			c.sumAbs += math.Abs(d)
		}
		return
	}
	for r := 0; r < rows; r++ {
		row := pr.Values[r*pr.Width : (r+1)*pr.Width]
		y := int(labels[r])
		pred := Class(row)
		c.classRows++
		if pred == y {
			c.correct++
		}
		if pr.Width <= 2 {
			c.binary = true
			score := row[len(row)-1]
			switch {
			case pred == 1 && y == 1:
				c.tp++
			case pred == 1:
				c.fp++
			case y == 1:
				c.fn++
			default:
				c.tn++
			}
			if c.pos == nil {
				c.pos, c.neg = make([]uint32, ScoreBins), make([]uint32, ScoreBins)
			}
			b := min(max(int(score*ScoreBins), 0), ScoreBins-1)
			if y == 1 {
				c.pos[b]++
			} else {
				c.neg[b]++
			}
			pt := score
			if y == 0 {
				pt = 1 - score
			}
			c.logLossSum -= math.Log(math.Min(math.Max(pt, logLossEps), 1-logLossEps))
			c.logLossRows++
			continue
		}
		c.multic = true
		if c.ctp == nil {
			c.ctp, c.cfp, c.cfn = make([]int64, maxClasses), make([]int64, maxClasses), make([]int64, maxClasses)
		}
		c.maxClass = max(c.maxClass, min(pr.Width, maxClasses))
		if y < maxClasses && pred < maxClasses {
			if pred == y {
				c.ctp[y]++
			} else {
				c.cfp[pred]++
				c.cfn[y]++
			}
		}
		// Log loss of probabilities normalised per row, as scikit-learn does.
		var sum float64
		for _, v := range row {
			sum += v
		}
		if sum > 0 {
			pt := math.Min(math.Max(row[y], logLossEps), 1-logLossEps)
			var norm float64
			for _, v := range row {
				norm += math.Min(math.Max(v, logLossEps), 1-logLossEps)
			}
			c.logLossSum -= math.Log(pt / norm)
			c.logLossRows++
		}
	}
}

// logLossEps clips probabilities like scikit-learn's log_loss (the
// float64 machine epsilon).
const logLossEps = 2.220446049250313e-16

// merge adds o's counts to c.
func (c *perfCounts) merge(o *perfCounts) {
	c.labeled += o.labeled
	c.classRows += o.classRows
	c.correct += o.correct
	c.tp += o.tp
	c.fp += o.fp
	c.fn += o.fn
	c.tn += o.tn
	if o.pos != nil {
		if c.pos == nil {
			c.pos, c.neg = make([]uint32, ScoreBins), make([]uint32, ScoreBins)
		}
		for i := range o.pos {
			c.pos[i] += o.pos[i]
			c.neg[i] += o.neg[i]
		}
	}
	if o.ctp != nil {
		if c.ctp == nil {
			c.ctp, c.cfp, c.cfn = make([]int64, maxClasses), make([]int64, maxClasses), make([]int64, maxClasses)
		}
		for i := range o.ctp {
			c.ctp[i] += o.ctp[i]
			c.cfp[i] += o.cfp[i]
			c.cfn[i] += o.cfn[i]
		}
	}
	c.maxClass = max(c.maxClass, o.maxClass)
	c.logLossSum += o.logLossSum
	c.logLossRows += o.logLossRows
	c.regRows += o.regRows
	c.sumSq += o.sumSq
	c.sumAbs += o.sumAbs
	c.delays += o.delays
	c.delaySum += o.delaySum
	c.delayMax = math.Max(c.delayMax, o.delayMax)
	for i := range o.delayHist {
		c.delayHist[i] += o.delayHist[i]
	}
	c.binary = c.binary || o.binary
	c.multic = c.multic || o.multic
}

// PerformanceStats are the metrics of one version over one span. A metric
// that does not apply, or has no data yet, is nil.
type PerformanceStats struct {
	// Labeled is the number of labelled requests; ClassRows and
	// RegressionRows their rows scored as classification and regression.
	Labeled        int64 `json:"labeled"`
	ClassRows      int64 `json:"class_rows"`
	RegressionRows int64 `json:"regression_rows"`
	// Accuracy is the share of rows whose predicted class is the label.
	Accuracy *float64 `json:"accuracy,omitempty"`
	// Precision, Recall and F1 are of class 1 for binary outputs, and
	// macro averages over the classes seen for multi-class outputs
	// (scikit-learn's average="binary" and average="macro"); nil when the
	// denominator is 0.
	Precision *float64 `json:"precision,omitempty"`
	Recall    *float64 `json:"recall,omitempty"`
	F1        *float64 `json:"f1,omitempty"`
	// ROCAUC is the area under the ROC curve of binary scores, counted on
	// ScoreBins bins; the exact value (sklearn.metrics.roc_auc_score) is
	// within ROCAUCErrorBound of it.
	ROCAUC           *float64 `json:"roc_auc,omitempty"`
	ROCAUCErrorBound *float64 `json:"roc_auc_error_bound,omitempty"`
	// LogLoss is the mean cross-entropy (sklearn.metrics.log_loss).
	LogLoss *float64 `json:"log_loss,omitempty"`
	// RMSE and MAE are over regression rows.
	RMSE *float64 `json:"rmse,omitempty"`
	MAE  *float64 `json:"mae,omitempty"`
	// LabelDelay describes how long after the prediction its label came.
	LabelDelay *DelayStats `json:"label_delay,omitempty"`
}

// DelayStats summarises label delays in seconds. P50 and P90 are the upper
// bounds of the DelayBuckets bucket holding the quantile (nil beyond the
// last bound), so they are never below the true quantile.
type DelayStats struct {
	Count int64    `json:"count"`
	Mean  float64  `json:"mean_seconds"`
	Max   float64  `json:"max_seconds"`
	P50   *float64 `json:"p50_seconds_at_most,omitempty"`
	P90   *float64 `json:"p90_seconds_at_most,omitempty"`
	// Buckets are the cumulative counts per DelayBuckets bound.
	Buckets []int64 `json:"buckets"`
}

func fptr(v float64) *float64 { return &v }

func ratio(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	return fptr(float64(a) / float64(b))
}

func f1(p, r *float64) *float64 {
	if p == nil || r == nil {
		return nil
	}
	if *p+*r == 0 {
		return fptr(0)
	}
	return fptr(2 * *p * *r / (*p + *r))
}

// stats computes the metrics from the counts.
func (c *perfCounts) stats() PerformanceStats {
	st := PerformanceStats{Labeled: c.labeled, ClassRows: c.classRows, RegressionRows: c.regRows}
	st.Accuracy = ratio(c.correct, c.classRows)
	switch {
	case c.binary && !c.multic:
		st.Precision = ratio(c.tp, c.tp+c.fp)
		st.Recall = ratio(c.tp, c.tp+c.fn)
		st.F1 = f1(st.Precision, st.Recall)
		st.ROCAUC, st.ROCAUCErrorBound = binnedAUC(c.pos, c.neg)
	case c.multic && !c.binary:
		var ps, rs, fs float64
		n := 0
		for k := 0; k < c.maxClass; k++ {
			if c.ctp[k]+c.cfp[k]+c.cfn[k] == 0 {
				continue // a class never predicted nor labelled
			}
			n++
			p := ratio(c.ctp[k], c.ctp[k]+c.cfp[k])
			r := ratio(c.ctp[k], c.ctp[k]+c.cfn[k])
			if p != nil {
				ps += *p
			}
			if r != nil {
				rs += *r
			}
			if f := f1(p, r); f != nil {
				fs += *f
			}
		}
		if n > 0 {
			st.Precision, st.Recall, st.F1 = fptr(ps/float64(n)), fptr(rs/float64(n)), fptr(fs/float64(n))
		}
	}
	if c.logLossRows > 0 {
		st.LogLoss = fptr(c.logLossSum / float64(c.logLossRows))
	}
	if c.regRows > 0 {
		st.RMSE = fptr(math.Sqrt(c.sumSq / float64(c.regRows)))
		st.MAE = fptr(c.sumAbs / float64(c.regRows))
	}
	if c.delays > 0 {
		d := &DelayStats{Count: c.delays, Mean: c.delaySum / float64(c.delays), Max: c.delayMax, Buckets: make([]int64, len(DelayBuckets))}
		var cum int64
		for i := range DelayBuckets {
			cum += c.delayHist[i]
			d.Buckets[i] = cum
			if d.P50 == nil && float64(cum) >= 0.5*float64(c.delays) {
				d.P50 = fptr(DelayBuckets[i])
			}
			if d.P90 == nil && float64(cum) >= 0.9*float64(c.delays) {
				d.P90 = fptr(DelayBuckets[i])
			}
		}
		st.LabelDelay = d
	}
	return st
}

// binnedAUC returns the ROC AUC of binned scores, ties within a bin counted
// as half, and the bound on its distance from the exact AUC: half the
// share of positive-negative pairs that share a bin.
func binnedAUC(pos, neg []uint32) (*float64, *float64) {
	var np, nn float64
	for i := range pos {
		np += float64(pos[i])
		nn += float64(neg[i])
	}
	if np == 0 || nn == 0 {
		return nil, nil
	}
	var below, area, tied float64
	for i := range pos {
		p, n := float64(pos[i]), float64(neg[i])
		area += p*below + 0.5*p*n
		tied += p * n
		below += n
	}
	return fptr(area / (np * nn)), fptr(0.5 * tied / (np * nn))
}

// VersionPerformance is one version's metrics since the server started and
// over the window.
type VersionPerformance struct {
	Endpoint string           `json:"endpoint"`
	Version  int              `json:"version"`
	Window   PerformanceStats `json:"window"`
	Total    PerformanceStats `json:"total"`
}

// Versions returns the metrics of every version of endpoint ("" for all)
// at now, by endpoint then version.
func (p *Performance) Versions(endpoint string, now time.Time) []VersionPerformance {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	nowEp := floorDiv(now.UnixNano(), p.slotNS)
	var out []VersionPerformance
	for k, s := range p.series {
		if endpoint != "" && k.endpoint != endpoint {
			continue
		}
		var w perfCounts
		for i := range s.slots {
			sl := &s.slots[i]
			if sl.epoch <= nowEp && sl.epoch > nowEp-int64(p.nslots) {
				w.merge(&sl.c)
			}
		}
		out = append(out, VersionPerformance{Endpoint: k.endpoint, Version: k.version, Window: w.stats(), Total: s.total.stats()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Endpoint != out[j].Endpoint {
			return out[i].Endpoint < out[j].Endpoint
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Metrics returns the metrics that have a value, by name: accuracy,
// precision, recall, f1, roc_auc, log_loss, rmse, mae and
// label_delay_mean_seconds.
func (st PerformanceStats) Metrics() map[string]float64 {
	out := map[string]float64{}
	add := func(name string, v *float64) {
		if v != nil {
			out[name] = *v
		}
	}
	add("accuracy", st.Accuracy)
	add("precision", st.Precision)
	add("recall", st.Recall)
	add("f1", st.F1)
	add("roc_auc", st.ROCAUC)
	add("log_loss", st.LogLoss)
	add("rmse", st.RMSE)
	add("mae", st.MAE)
	if st.LabelDelay != nil {
		out["label_delay_mean_seconds"] = st.LabelDelay.Mean
	}
	return out
}
