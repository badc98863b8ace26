package registry

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/store"
)

// Sizer is implemented by models that know how much memory they hold.
type Sizer interface {
	SizeBytes() int64
}

// modelSize estimates a loaded model's memory: its own figure when it has
// one, else the artifact's size.
func modelSize(m inference.Model, artifactSize int64) int64 {
	if s, ok := m.(Sizer); ok {
		return s.SizeBytes()
	}
	return artifactSize
}

func cacheKey(v store.Version) string {
	return v.Model + "@" + strconv.Itoa(v.Version) + "#" + v.Digest
}

// loadedSet holds loaded versions within a memory budget. Versions the
// routing table uses are never evicted; the others go least-recently-used
// first when the budget is exceeded. Loads of one version are deduplicated,
// and a load never holds the lock, so it never blocks other versions.
type loadedSet struct {
	budget int64
	log    *slog.Logger

	mu      sync.Mutex
	entries map[string]*loadedEntry  // guarded by mu
	loading map[string]chan struct{} // keys being loaded; closed when done; guarded by mu
	inTable map[string]bool          // keys the current routing table uses; guarded by mu
	total   int64                    // sum of entry sizes; guarded by mu
}

type loadedEntry struct {
	backend  *gateway.Backend
	size     int64
	took     time.Duration // how long the load took
	lastUsed time.Time
}

// LoadedModel is a version held in memory.
type LoadedModel struct {
	Model   string
	Version int
	// Bytes is the memory the model reports holding, else its artifact's
	// size; LoadTime how long loading it took.
	Bytes    int64
	LoadTime time.Duration
}

// models lists the loaded versions and the memory budget.
func (l *loadedSet) models() ([]LoadedModel, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LoadedModel, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, LoadedModel{Model: e.backend.Model, Version: e.backend.Version, Bytes: e.size, LoadTime: e.took})
	}
	return out, l.budget
}

func newLoadedSet(budget int64, log *slog.Logger) *loadedSet {
	return &loadedSet{budget: budget, log: log, entries: map[string]*loadedEntry{}, loading: map[string]chan struct{}{}, inTable: map[string]bool{}}
}

// get returns the loaded backend for key, calling load (once, however many
// callers ask at the same time) when it is not loaded.
func (l *loadedSet) get(ctx context.Context, key string, load func() (*gateway.Backend, int64)) *gateway.Backend {
	for {
		l.mu.Lock()
		if e := l.entries[key]; e != nil {
			e.lastUsed = time.Now()
			l.mu.Unlock()
			return e.backend
		}
		wait, busy := l.loading[key]
		if !busy {
			done := make(chan struct{})
			l.loading[key] = done
			l.mu.Unlock()
			start := time.Now()
			b, size := load()
			took := time.Since(start)
			l.mu.Lock()
			delete(l.loading, key)
			close(done)
			l.mu.Unlock()
			if b.Ready() {
				l.put(key, b, size, took)
			}
			return b
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return gateway.NewBackend("", 0, "", nil, ctx.Err())
		}
	}
}

// put records a loaded backend and evicts others if over budget.
func (l *loadedSet) put(key string, b *gateway.Backend, size int64, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.entries[key]; old != nil {
		l.total -= old.size
	}
	l.entries[key] = &loadedEntry{backend: b, size: size, took: took, lastUsed: time.Now()}
	l.total += size
	l.evictLocked()
}

// has reports whether model@version is loaded.
func (l *loadedSet) has(model string, version int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.backend.Model == model && e.backend.Version == version {
			return true
		}
	}
	return false
}

// setTable records which keys the routing table uses, then evicts versions
// outside it that are over budget or idle for longer than idle.
func (l *loadedSet) setTable(inUse map[string]bool, idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inTable = inUse
	for k, e := range l.entries {
		if !inUse[k] && time.Since(e.lastUsed) > idle {
			l.dropLocked(k, "idle")
		}
	}
	l.evictLocked()
}

// evictLocked drops least-recently-used versions outside the table until
// the total fits the budget.
func (l *loadedSet) evictLocked() {
	if l.budget <= 0 || l.total <= l.budget {
		return
	}
	var keys []string
	for k := range l.entries {
		if !l.inTable[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return l.entries[keys[i]].lastUsed.Before(l.entries[keys[j]].lastUsed) })
	for _, k := range keys {
		if l.total <= l.budget {
			break
		}
		l.dropLocked(k, "over the model memory budget")
	}
	if l.total > l.budget {
		l.log.Warn("versions in use exceed the model memory budget", "loaded_bytes", l.total, "budget_bytes", l.budget)
	}
}

// dropLocked forgets an entry. A model holding resources is closed a minute
// later, after requests still running on it have finished.
func (l *loadedSet) dropLocked(key, why string) {
	e := l.entries[key]
	delete(l.entries, key)
	l.total -= e.size
	l.log.Info("unloaded model version", "model", e.backend.Model, "version", e.backend.Version, "reason", why)
	if m := e.backend.Runtime; m != nil {
		if _, ok := m.(io.Closer); ok {
			time.AfterFunc(time.Minute, func() { closeModel(m) })
		}
	}
}
