package gateway

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Guard protects an endpoint: a request rate limit (token bucket), a limit
// on predictions running at once, a per-request timeout and fallback to the
// stable version. One Guard lives as long as the endpoint's protection
// settings do, across routing-table swaps, so its counts are not reset by
// unrelated changes.
type Guard struct {
	// Timeout bounds one prediction; 0 means none.
	Timeout time.Duration
	// Fallback answers with FallbackVersion when another version fails
	// (the failure still counts against that version).
	Fallback        bool
	FallbackVersion int

	rate  float64 // tokens per second; 0 means no rate limit
	burst float64

	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time

	maxInFlight int64 // 0 means no limit
	inFlight    atomic.Int64

	rejected atomic.Uint64
}

// NewGuard returns a guard allowing rate requests per second with bursts of
// burst (rate 0: unlimited) and at most maxInFlight predictions at once (0:
// unlimited).
func NewGuard(rate float64, burst int, maxInFlight int) *Guard {
	if burst <= 0 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	return &Guard{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now(), maxInFlight: int64(maxInFlight)}
}

// Rejected returns how many requests the guard refused.
func (g *Guard) Rejected() uint64 { return g.rejected.Load() }

// admit takes a token and a concurrency slot, or returns the 429 to answer.
// The caller calls release when admitted.
func (g *Guard) admit(endpoint string) *httpError {
	if g.rate > 0 {
		g.mu.Lock()
		now := time.Now()
		g.tokens = math.Min(g.burst, g.tokens+now.Sub(g.last).Seconds()*g.rate)
		g.last = now
		ok := g.tokens >= 1
		var wait time.Duration
		if ok {
			g.tokens--
		} else {
			wait = time.Duration((1 - g.tokens) / g.rate * float64(time.Second))
		}
		g.mu.Unlock()
		if !ok {
			g.rejected.Add(1)
			return &httpError{status: http.StatusTooManyRequests, msg: "endpoint " + strconv.Quote(endpoint) + ": rate limit of " + strconv.FormatFloat(g.rate, 'g', -1, 64) + " requests/s exceeded", retryAfter: wait}
		}
	}
	if g.maxInFlight > 0 {
		if g.inFlight.Add(1) > g.maxInFlight {
			g.inFlight.Add(-1)
			g.rejected.Add(1)
			return &httpError{status: http.StatusTooManyRequests, msg: "endpoint " + strconv.Quote(endpoint) + ": " + strconv.FormatInt(g.maxInFlight, 10) + " requests already running", retryAfter: time.Second}
		}
	}
	return nil
}

func (g *Guard) release() {
	if g.maxInFlight > 0 {
		g.inFlight.Add(-1)
	}
}
