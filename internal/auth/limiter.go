package auth

import (
	"math"
	"sync"
	"time"
)

// failLimiter rate limits failed authentications per client IP with a
// token bucket: each failure takes one token; an empty bucket refuses
// further attempts (429) until it refills at rate per second.
type failLimiter struct {
	burst float64
	rate  float64 // tokens per second
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxTracked bounds the clients remembered; above it full buckets are
// dropped (they are indistinguishable from new ones).
const maxTracked = 100_000

func newFailLimiter(burst int, per time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), rate: 1 / per.Seconds(), now: time.Now, buckets: map[string]*bucket{}}
}

func (l *failLimiter) refill(b *bucket, now time.Time) {
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
}

// blocked reports whether ip has no attempts left, and when it will have one.
func (l *failLimiter) blocked(ip string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		return false, 0
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// fail records a failed attempt from ip.
func (l *failLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[ip] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

func (l *failLimiter) pruneLocked(now time.Time) {
	for ip, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, ip)
		}
	}
}
