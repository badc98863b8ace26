package monitor

import (
	"sync"
	"time"
)

// Prediction is what one version answered for a request.
type Prediction struct {
	// Version that scored the request.
	Version int
	// Role of the version for this request (stable, canary, shadow, ...).
	Role string
	// Values holds the first output's values, row-major (capped).
	Values []float64
	// Width is the number of values per row (1 for scores, K for K classes).
	Width int
	// Err is set when the version failed.
	Err string
	// Latency of the version's prediction.
	Latency time.Duration
}

// Request is one remembered request: the answer and the mirrored versions'
// predictions.
type Request struct {
	ID       string
	Endpoint string
	Time     time.Time
	// Answer is the prediction returned to the caller.
	Answer Prediction
	// Mirrors are shadow and challenger predictions, added as they finish.
	Mirrors []Prediction
	// Groups holds each row's value of the endpoint's sensitive attribute
	// (one value for every row when it comes from a header), or nil.
	Groups []string
}

// MaxValues caps the output values remembered per prediction.
const MaxValues = 256

// Recent remembers requests by id for a horizon, up to a maximum count;
// the oldest are forgotten first. It is safe for concurrent use.
type Recent struct {
	horizon time.Duration
	max     int
	now     func() time.Time

	mu      sync.Mutex
	byID    map[string]*Request // guarded by mu
	order   []string            // ids in arrival order, a ring; guarded by mu
	head    int                 // index of the oldest id in order; guarded by mu
	n       int                 // ids in order; guarded by mu
	dropped uint64              // requests forgotten before their horizon; guarded by mu
}

// NewRecent returns a memory of at most max requests kept for horizon.
func NewRecent(max int, horizon time.Duration) *Recent {
	if max <= 0 {
		max = 1
	}
	return &Recent{horizon: horizon, max: max, now: time.Now, byID: make(map[string]*Request, 1024), order: make([]string, max)}
}

// Add remembers a request. A repeated id replaces the earlier request.
func (r *Recent) Add(req *Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked()
	if _, dup := r.byID[req.ID]; dup {
		r.byID[req.ID] = req
		return
	}
	if r.n == r.max {
		old := r.order[r.head]
		delete(r.byID, old)
		r.head = (r.head + 1) % r.max
		r.n--
		r.dropped++
	}
	r.order[(r.head+r.n)%r.max] = req.ID
	r.n++
	r.byID[req.ID] = req
}

// AddMirror records a mirrored version's prediction for a remembered
// request; it reports false when the request is no longer remembered.
func (r *Recent) AddMirror(id string, p Prediction) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	req := r.byID[id]
	if req == nil {
		return false
	}
	req.Mirrors = append(req.Mirrors, p)
	return true
}

// Get returns a copy of the remembered request, or false when the id is
// unknown or older than the horizon.
func (r *Recent) Get(id string) (Request, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req := r.byID[id]
	if req == nil || r.now().Sub(req.Time) > r.horizon {
		return Request{}, false
	}
	out := *req
	out.Mirrors = append([]Prediction(nil), req.Mirrors...)
	return out, true
}

// Len returns the number of remembered requests.
func (r *Recent) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Dropped returns how many requests were forgotten before their horizon
// because the memory was full.
func (r *Recent) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// expireLocked forgets requests older than the horizon.
func (r *Recent) expireLocked() {
	now := r.now()
	for r.n > 0 {
		id := r.order[r.head]
		req := r.byID[id]
		if req != nil && now.Sub(req.Time) <= r.horizon {
			return
		}
		delete(r.byID, id)
		r.head = (r.head + 1) % r.max
		r.n--
	}
}
