package drift

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// WindowOptions configures a live window. Exactly one of Size and Rows is
// set.
type WindowOptions struct {
	// Size makes a time window: a report covers the rows observed in the
	// last Size, give or take one slot (between Size-Size/Slots and Size).
	Size time.Duration
	// Rows makes a count window: a report covers the last Rows rows, give
	// or take one slot (between Rows-Rows/Slots and Rows, with Rows rounded
	// up to a multiple of Slots).
	Rows int
	// Slots is how many steps the window slides by: it keeps Slots sets of
	// bin counts and drops the oldest set as a whole. Memory is Slots times
	// the number of bins times 4 bytes, whatever the traffic. 0 means 10.
	Slots int
	// Thresholds decide which features a report flags.
	Thresholds Thresholds
}

const defaultSlots = 10

// Row is one observation for a Window, in the baseline's feature order.
type Row struct {
	// Values holds one number per feature: a numeric feature's value (NaN
	// or ±Inf when missing), or a categorical feature's code (NaN when
	// missing), matched to the baseline's labels by its shortest decimal
	// form, so code 3 is label "3". Absent trailing values count as missing.
	Values []float64
	// Labels, when not nil, holds categorical features' labels by feature
	// index; a non-empty label is used instead of the code in Values.
	// Entries of numeric features are ignored.
	Labels []string
	// Prediction is the model's numeric output for the row, NaN if unknown
	// (the zero value counts as a prediction of 0). It is ignored when the
	// baseline has no prediction.
	Prediction float64
	// PredictionLabel is the predicted class, for a categorical prediction;
	// when empty, Prediction is read as its code.
	PredictionLabel string
}

// Window holds the current distribution of one model version's traffic
// (one per endpoint and version), on the bins of that version's baseline,
// in memory bounded by the baseline and the options alone. Observe is safe
// for concurrent use and allocation-free; it holds the lock only to add one
// to a counter per feature.
type Window struct {
	base     *Baseline
	feats    []*binner
	pred     *binner
	offs     []int // first counter of each feature (then the prediction) in a slot
	width    int   // counters per slot
	th       Thresholds
	slotNS   int64  // time window: the span of one slot; 0 for a count window
	perSlot  uint32 // count window: rows per slot
	nslots   int
	idxPool  sync.Pool // *[]int32 scratch for Observe
	mu       sync.Mutex
	slots    []slot   // guarded by mu
	counts   []uint32 // guarded by mu; slot i's counters are counts[i*width:(i+1)*width]
	cur      int      // count window: the slot being filled; guarded by mu
	seq      int64    // count window: sequence number of slot cur; guarded by mu
	dropped  int64    // rows that arrived too late for their slot; guarded by mu
	overflow int64    // rows refused by a slot whose counters were full; guarded by mu
}

type slot struct {
	// epoch is the slot's number: in a time window the start of its span in
	// units of slotNS since the Unix epoch, in a count window a sequence.
	epoch       int64
	rows        uint32
	first, last int64 // Unix nanoseconds of the first and latest row
}

// NewWindow returns an empty window on the bins of b, which it keeps (b
// must not change afterwards).
func NewWindow(b *Baseline, opts WindowOptions) (*Window, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("window: invalid baseline: %w", err)
	}
	if opts.Slots == 0 {
		opts.Slots = defaultSlots
	}
	var errs []error
	if opts.Slots < 1 || opts.Slots > 1000 {
		errs = append(errs, fmt.Errorf("slots: %d: must be in 1..1000", opts.Slots))
	}
	switch {
	case (opts.Size > 0) == (opts.Rows > 0) || opts.Size < 0 || opts.Rows < 0:
		errs = append(errs, fmt.Errorf("size %v, rows %d: exactly one must be set, and positive", opts.Size, opts.Rows))
	case opts.Size > 0 && opts.Size < time.Duration(opts.Slots)*time.Millisecond:
		errs = append(errs, fmt.Errorf("size: %v: must be at least 1ms per slot", opts.Size))
	case opts.Rows > 0 && (opts.Rows < opts.Slots || int64(opts.Rows) > math.MaxUint32):
		errs = append(errs, fmt.Errorf("rows: %d: must be in slots (%d)..%d", opts.Rows, opts.Slots, uint32(math.MaxUint32)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	w := &Window{base: b, th: opts.Thresholds.withDefaults(), nslots: opts.Slots}
	for i := range b.Features {
		w.feats = append(w.feats, newBinner(&b.Features[i]))
		w.offs = append(w.offs, w.width)
		w.width += w.feats[i].nbins + 1
	}
	if b.Prediction != nil {
		w.pred = newBinner(b.Prediction)
		w.offs = append(w.offs, w.width)
		w.width += w.pred.nbins + 1
	}
	if opts.Size > 0 {
		w.slotNS = int64(opts.Size) / int64(opts.Slots)
	} else {
		w.perSlot = uint32((opts.Rows + opts.Slots - 1) / opts.Slots)
	}
	w.slots = make([]slot, opts.Slots)
	for i := range w.slots {
		w.slots[i].epoch = math.MinInt64
	}
	w.counts = make([]uint32, opts.Slots*w.width)
	n := len(w.offs)
	w.idxPool.New = func() any {
		s := make([]int32, 0, n)
		return &s
	}
	return w, nil
}

// Observe adds one row seen at now.
func (w *Window) Observe(now time.Time, r Row) {
	bp := w.idxPool.Get().(*[]int32)
	idx := (*bp)[:0]
	for i, bn := range w.feats {
		v := math.NaN()
		if i < len(r.Values) {
			v = r.Values[i]
		}
		var bin int
		switch {
		case bn.d.Kind == Numeric:
			bin = bn.numBin(v)
		case i < len(r.Labels) && r.Labels[i] != "":
			bin = bn.labelBin(r.Labels[i])
		default:
			bin = bn.codeBin(v)
		}
		idx = append(idx, int32(w.offs[i]+bin))
	}
	if bn := w.pred; bn != nil {
		var bin int
		switch {
		case bn.d.Kind == Numeric:
			bin = bn.numBin(r.Prediction)
		case r.PredictionLabel != "":
			bin = bn.labelBin(r.PredictionLabel)
		default:
			bin = bn.codeBin(r.Prediction)
		}
		idx = append(idx, int32(w.offs[len(w.feats)]+bin))
	}
	t := now.UnixNano()

	w.mu.Lock()
	if off, ok := w.slotLocked(t); ok {
		c := w.counts[off : off+w.width]
		for _, k := range idx {
			c[k]++
		}
	}
	w.mu.Unlock()

	*bp = idx
	w.idxPool.Put(bp)
}

// slotLocked picks the slot for a row at t (Unix nanoseconds), recycling
// the oldest one when the window has moved on, and counts the row in it. It
// returns the offset of the slot's counters, or false when the row is
// refused.
func (w *Window) slotLocked(t int64) (int, bool) {
	var i int
	if w.slotNS > 0 {
		ep := floorDiv(t, w.slotNS)
		i = int(ep - floorDiv(ep, int64(w.nslots))*int64(w.nslots))
		switch s := &w.slots[i]; {
		case s.epoch > ep: // the slot already holds a later span
			w.dropped++
			return 0, false
		case s.epoch < ep:
			w.resetLocked(i, ep)
		}
	} else {
		if w.slots[w.cur].rows >= w.perSlot {
			w.cur = (w.cur + 1) % w.nslots
			w.seq++
			w.resetLocked(w.cur, w.seq)
		}
		i = w.cur
	}
	s := &w.slots[i]
	if s.rows == math.MaxUint32 {
		w.overflow++
		return 0, false
	}
	s.rows++
	if s.rows == 1 || t < s.first {
		s.first = t
	}
	s.last = max(s.last, t)
	return i * w.width, true
}

func (w *Window) resetLocked(i int, epoch int64) {
	w.slots[i] = slot{epoch: epoch}
	clear(w.counts[i*w.width : (i+1)*w.width])
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Dropped returns how many rows were refused: too late for their slot (a
// time window's clock had moved a whole window past them), or beyond the
// 2^32-1 rows one slot can count.
func (w *Window) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped + w.overflow
}

// Report compares the window's rows with the baseline. For a time window
// it covers the slots whose span started in the last Size before now; a
// count window ignores now.
func (w *Window) Report(now time.Time) *Report {
	totals := make([]int64, w.width)
	var rows int64
	var start, end int64
	w.mu.Lock()
	nowEp := floorDiv(now.UnixNano(), max(w.slotNS, 1))
	for i := range w.slots {
		s := &w.slots[i]
		if s.rows == 0 {
			continue
		}
		if w.slotNS > 0 && (s.epoch > nowEp || s.epoch <= nowEp-int64(w.nslots)) {
			continue
		}
		for j, c := range w.counts[i*w.width : (i+1)*w.width] {
			totals[j] += int64(c)
		}
		if rows == 0 || s.first < start {
			start = s.first
		}
		end = max(end, s.last)
		rows += int64(s.rows)
	}
	w.mu.Unlock()

	r := &Report{Rows: rows, BaselineRows: w.base.Rows}
	if rows > 0 {
		r.Start, r.End = time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
	}
	for i, bn := range w.feats {
		r.Features = append(r.Features, bn.report(totals[w.offs[i]:w.offs[i]+bn.nbins+1], nil, w.base.Rows, w.th))
	}
	if bn := w.pred; bn != nil {
		off := w.offs[len(w.feats)]
		fr := bn.report(totals[off:off+bn.nbins+1], nil, w.base.Rows, w.th)
		r.Prediction = &fr
	}
	r.finish()
	return r
}
