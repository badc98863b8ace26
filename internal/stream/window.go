package stream

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// Windows keep, per key, a few buckets of running statistics: one bucket
// per tumbling window, or one per Slide for a sliding window, so a key
// costs O(Size/Slide) memory whatever its message rate. The aggregates of
// a message are computed over the buckets of its window, after the message
// itself is added:
//
//   - tumbling: the bucket [floor(t/Size)·Size, +Size) holding its event
//     time t, i.e. the messages of that window seen so far;
//   - sliding: the buckets whose start s satisfies t−Size < s ≤ t, i.e. the
//     last Size before t at the resolution of Slide.
//
// A message whose event time is more than AllowedLateness behind the
// newest of its key is late: it is not added and goes to the dead letter
// sink. Keys unseen for TTL are dropped, and past MaxKeys the least
// recently seen go first.

// DefaultMaxKeys bounds the keys of a window when Window.MaxKeys is 0.
const DefaultMaxKeys = 100000

// ErrLate is the dead letter reason of a late message.
type lateError struct {
	t, newest time.Time
	lateness  time.Duration
}

func (e *lateError) Error() string {
	return fmt.Sprintf("late event: event time %s is more than %s behind the newest of its key (%s)",
		e.t.UTC().Format(time.RFC3339Nano), e.lateness, e.newest.UTC().Format(time.RFC3339Nano))
}

// bucket holds the statistics of one bucket: per aggregated field the
// count of values, their sum, min, max and the last by event time.
type bucket struct {
	Start  int64     `json:"s"`
	Events int64     `json:"e"`
	N      []int64   `json:"n"`
	Sum    []float64 `json:"sum"`
	Min    []float64 `json:"min"`
	Max    []float64 `json:"max"`
	Last   []float64 `json:"last"`
	LastT  []int64   `json:"lt"`
}

// keyState is the state of one key.
type keyState struct {
	Buckets []*bucket `json:"b"`
	Newest  int64     `json:"t"`  // newest event time, ns
	Seen    int64     `json:"ls"` // wall time last seen, ns
}

// windows is the state of a pipeline's window.
type windows struct {
	w        *Window
	fields   []string // distinct aggregated fields
	aggField []int    // per aggregate, its index in fields (-1 for count)
	width    int64    // bucket width, ns
	size     int64
	lateness int64
	ttl      int64
	maxKeys  int
	keys     map[string]*keyState
	dirty    map[string]bool // keys changed since the last checkpoint
	now      func() time.Time
}

func newWindows(w *Window) *windows {
	ws := &windows{w: w, size: int64(w.Size), lateness: int64(w.AllowedLateness), keys: map[string]*keyState{}, dirty: map[string]bool{}, now: time.Now}
	ws.width = ws.size
	if w.Type == "sliding" {
		ws.width = int64(w.Slide)
		if ws.width <= 0 {
			ws.width = max(ws.size/10, 1)
		}
	}
	ws.ttl = int64(w.TTL)
	if ws.ttl <= 0 {
		ws.ttl = ws.size + ws.lateness
	}
	ws.maxKeys = w.MaxKeys
	if ws.maxKeys <= 0 {
		ws.maxKeys = DefaultMaxKeys
	}
	idx := map[string]int{}
	for _, a := range w.Aggregates {
		if a.Fn == "count" {
			ws.aggField = append(ws.aggField, -1)
			continue
		}
		j, ok := idx[a.Field]
		if !ok {
			j = len(ws.fields)
			idx[a.Field] = j
			ws.fields = append(ws.fields, a.Field)
		}
		ws.aggField = append(ws.aggField, j)
	}
	return ws
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add adds one message (its event time and the values of the aggregated
// fields, NaN when missing) to key's state, unless it was already applied
// (apply false: a replay), and returns the aggregates of its window.
func (ws *windows) add(key string, t time.Time, vals []float64, apply bool) ([]float64, error) {
	ks := ws.keys[key]
	tn := t.UnixNano()
	if ks == nil {
		if !apply {
			// A replay of a message whose key was dropped since: count it
			// again rather than lose it.
			apply = true
		}
		ks = &keyState{Newest: tn}
		ws.keys[key] = ks
		if len(ws.keys) > ws.maxKeys {
			ws.evict(key)
		}
	}
	ks.Seen = ws.now().UnixNano()
	if apply {
		if tn < ks.Newest-ws.lateness {
			return nil, &lateError{t: t, newest: time.Unix(0, ks.Newest), lateness: time.Duration(ws.lateness)}
		}
		start := floorDiv(tn, ws.width) * ws.width
		b := ks.bucket(start, len(ws.fields))
		b.Events++
		for j, v := range vals {
			if math.IsNaN(v) {
				continue
			}
			if b.N[j] == 0 || v < b.Min[j] {
				b.Min[j] = v
			}
			if b.N[j] == 0 || v > b.Max[j] {
				b.Max[j] = v
			}
			b.N[j]++
			b.Sum[j] += v
			if b.N[j] == 1 || tn >= b.LastT[j] {
				b.Last[j], b.LastT[j] = v, tn
			}
		}
		if tn > ks.Newest {
			ks.Newest = tn
		}
		// Buckets no window can reach again.
		horizon := ks.Newest - ws.lateness - ws.size
		k := 0
		for k < len(ks.Buckets) && ks.Buckets[k].Start+ws.width <= horizon {
			k++
		}
		ks.Buckets = ks.Buckets[k:]
		ws.dirty[key] = true
	}
	return ws.aggregate(ks, tn), nil
}

// bucket returns the bucket starting at start, adding it in order.
func (ks *keyState) bucket(start int64, nf int) *bucket {
	i := sort.Search(len(ks.Buckets), func(i int) bool { return ks.Buckets[i].Start >= start })
	if i < len(ks.Buckets) && ks.Buckets[i].Start == start {
		return ks.Buckets[i]
	}
	b := &bucket{Start: start, N: make([]int64, nf), Sum: make([]float64, nf), Min: make([]float64, nf), Max: make([]float64, nf), Last: make([]float64, nf), LastT: make([]int64, nf)}
	ks.Buckets = append(ks.Buckets, nil)
	copy(ks.Buckets[i+1:], ks.Buckets[i:])
	ks.Buckets[i] = b
	return b
}

// aggregate computes the aggregates of the window of event time tn.
func (ws *windows) aggregate(ks *keyState, tn int64) []float64 {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if ws.w.Type == "tumbling" {
		lo = floorDiv(tn, ws.width) * ws.width
		hi = lo
	} else {
		lo, hi = tn-ws.size+1, tn // start in (t−size, t]
	}
	nf := len(ws.fields)
	var events int64
	n := make([]int64, nf)
	sum := make([]float64, nf)
	mn := make([]float64, nf)
	mx := make([]float64, nf)
	last := make([]float64, nf)
	lastT := make([]int64, nf)
	for _, b := range ks.Buckets {
		if b.Start < lo || b.Start > hi {
			continue
		}
		events += b.Events
		for j := 0; j < nf; j++ {
			if b.N[j] == 0 {
				continue
			}
			if n[j] == 0 || b.Min[j] < mn[j] {
				mn[j] = b.Min[j]
			}
			if n[j] == 0 || b.Max[j] > mx[j] {
				mx[j] = b.Max[j]
			}
			if n[j] == 0 || b.LastT[j] >= lastT[j] {
				last[j], lastT[j] = b.Last[j], b.LastT[j]
			}
			n[j] += b.N[j]
			sum[j] += b.Sum[j]
		}
	}
	out := make([]float64, len(ws.w.Aggregates))
	for i, a := range ws.w.Aggregates {
		j := ws.aggField[i]
		switch {
		case a.Fn == "count":
			out[i] = float64(events)
		case n[j] == 0 && a.Fn != "sum":
			out[i] = math.NaN()
		case a.Fn == "sum":
			out[i] = sum[j]
		case a.Fn == "mean":
			out[i] = sum[j] / float64(n[j])
		case a.Fn == "min":
			out[i] = mn[j]
		case a.Fn == "max":
			out[i] = mx[j]
		case a.Fn == "last":
			out[i] = last[j]
		}
	}
	return out
}

// expire drops keys unseen for the TTL and returns them.
func (ws *windows) expire() []string {
	cut := ws.now().UnixNano() - ws.ttl
	var gone []string
	for k, ks := range ws.keys {
		if ks.Seen < cut {
			delete(ws.keys, k)
			delete(ws.dirty, k)
			gone = append(gone, k)
		}
	}
	return gone
}

// evict drops the least recently seen tenth of the keys (never keep).
func (ws *windows) evict(keep string) {
	type ks struct {
		k    string
		seen int64
	}
	all := make([]ks, 0, len(ws.keys))
	for k, s := range ws.keys {
		if k != keep {
			all = append(all, ks{k, s.Seen})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seen < all[j].seen })
	n := max(len(ws.keys)-ws.maxKeys, len(ws.keys)/10)
	for i := 0; i < n && i < len(all); i++ {
		delete(ws.keys, all[i].k)
		ws.dirty[all[i].k] = true // a dirty key without state is deleted by the checkpoint
	}
}

// changes returns the state of the keys changed since the last call (nil
// for a dropped key) and forgets them.
func (ws *windows) changes() (map[string][]byte, error) {
	if len(ws.dirty) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(ws.dirty))
	for k := range ws.dirty {
		ks := ws.keys[k]
		if ks == nil {
			out[k] = nil
			continue
		}
		b, err := json.Marshal(ks)
		if err != nil {
			return nil, fmt.Errorf("encoding window state of key %q: %w", k, err)
		}
		out[k] = b
	}
	clear(ws.dirty)
	return out, nil
}

// restore loads checkpointed keys; the shape of the buckets must match the
// window's aggregated fields or the key is dropped.
func (ws *windows) restore(state map[string][]byte) error {
	for k, b := range state {
		var ks keyState
		if err := json.Unmarshal(b, &ks); err != nil {
			return fmt.Errorf("decoding window state of key %q: %w", k, err)
		}
		ok := true
		for _, bk := range ks.Buckets {
			if len(bk.N) != len(ws.fields) || len(bk.Sum) != len(ws.fields) || len(bk.Min) != len(ws.fields) ||
				len(bk.Max) != len(ws.fields) || len(bk.Last) != len(ws.fields) || len(bk.LastT) != len(ws.fields) {
				ok = false // the spec's aggregates changed
			}
		}
		if ok {
			ks.Seen = ws.now().UnixNano()
			ws.keys[k] = &ks
		}
	}
	return nil
}
