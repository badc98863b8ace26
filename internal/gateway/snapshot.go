package gateway

import (
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/traffic"
)

// Snapshot is the immutable routing table: every endpoint the gateway
// serves, with its traffic plan and loaded versions. Never modify a
// Snapshot after handing it to Swap.
type Snapshot struct {
	// Revision is the store revision the snapshot was built from.
	Revision int64
	// Endpoints by name.
	Endpoints map[string]*Endpoint
}

// Endpoint is one served endpoint.
type Endpoint struct {
	// Name clients call.
	Name string
	// Model is the registry model the endpoint serves.
	Model string
	// Plan divides traffic among Backends.
	Plan *traffic.Plan
	// Backends holds every version the plan names, by version number.
	Backends map[int]*Backend
	// StickyHeader or StickyFeature names the sticky routing key.
	StickyHeader, StickyFeature string
	// SegmentHeader or SegmentFeature names what splits comparisons into
	// segments.
	SegmentHeader, SegmentFeature string
	// Guard limits and protects the endpoint; nil means no protection.
	Guard *Guard
	// SensitiveHeader or SensitiveFeature names the sensitive attribute
	// whose groups fairness is measured across; both empty means none.
	SensitiveHeader, SensitiveFeature string
	// RequireToken makes every call to the endpoint (metadata, readiness,
	// inference; REST and gRPC) pass Options.Authorizer first.
	RequireToken bool
}

// Backend is one loaded model version.
type Backend struct {
	// Model is the registry model name.
	Model string
	// Version is the version number.
	Version int
	// Format is the runtime format ("xgboost", "onnx", ...).
	Format string
	// Runtime scores requests; nil when loading failed (see Err).
	Runtime inference.Model
	// Err is why the version could not be loaded; the endpoint answers 503.
	Err error
	// Key identifies the loaded artifact (set by the control plane).
	Key string
	// Baseline is the version's training-data summary for drift; nil when
	// it has none.
	Baseline *drift.Baseline

	sig        inference.Signature
	tabular    inference.TensorSpec
	isTabular  bool
	features   []string // names of the tabular input's columns
	versionStr string
	// at is Runtime when it takes the time a call began
	// (inference.PredictorAt), else nil.
	at inference.PredictorAt
}

// NewBackend returns a backend for a loaded runtime, or for one whose load
// failed when loadErr is set.
func NewBackend(model string, version int, format string, rt inference.Model, loadErr error) *Backend {
	b := &Backend{Model: model, Version: version, Format: format, Runtime: rt, Err: loadErr, versionStr: strconv.Itoa(version)}
	if rt != nil {
		b.at, _ = rt.(inference.PredictorAt)
		b.sig = rt.Signature()
		b.tabular, b.isTabular = b.sig.TabularInput()
		for _, f := range b.tabular.Features {
			b.features = append(b.features, f.Name)
		}
	}
	return b
}

// Ready reports whether the backend can score.
func (b *Backend) Ready() bool { return b != nil && b.Runtime != nil }

// primary returns the backend with the largest share of traffic.
func (e *Endpoint) primary() *Backend {
	var best *Backend
	bestW := -1
	for _, s := range e.Plan.Splits() {
		if s.Weight > bestW {
			best, bestW = e.Backends[s.Version], s.Weight
		}
	}
	return best
}

// Ready reports whether every version receiving traffic is loaded.
func (e *Endpoint) Ready() bool {
	for _, v := range e.Plan.Versions() {
		if !e.Backends[v].Ready() {
			return false
		}
	}
	return true
}
