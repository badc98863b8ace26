package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/traffic"
)

// EndpointSpec is the stored, desired state of an endpoint.
type EndpointSpec struct {
	// Model is the registry model the endpoint serves.
	Model string `json:"model"`
	// Version is a version number ("3"), an alias ("production", which the
	// endpoint then follows when the alias moves) or "latest".
	Version string `json:"version"`
	// Description is free text for people.
	Description string `json:"description,omitempty"`
	// Traffic, when set, divides traffic among explicit version numbers
	// (canary, sticky canary, shadow, blue-green, bandit, challengers) and
	// Version is ignored.
	Traffic *traffic.Policy `json:"traffic,omitempty"`
	// SegmentBy names a header or input feature whose value splits shadow
	// and challenger comparisons into segments.
	SegmentBy *traffic.Sticky `json:"segmentBy,omitempty"`
	// Protection limits and protects the endpoint.
	Protection *Protection `json:"protection,omitempty"`
	// Rolling is a stepwise shift in progress (or finished, or halted).
	Rolling *Rolling `json:"rolling,omitempty"`
	// Auth is who may call the endpoint's inference routes: "public"
	// (default, anyone) or "token" (a valid API token of any role, or a
	// verified client certificate), over REST and gRPC.
	Auth string `json:"auth,omitempty"`
	// Approval "required" makes production changes (rollouts) wait for a
	// second person with the approver role; "" or "none" does not.
	Approval string `json:"approval,omitempty"`
	// Monitoring configures what the endpoint's monitors measure beyond
	// the defaults.
	Monitoring *Monitoring `json:"monitoring,omitempty"`
}

// Monitoring configures an endpoint's monitors.
type Monitoring struct {
	// Sensitive names the attribute fairness is measured across: a request
	// header (metadata) or an input feature, exactly one.
	Sensitive *traffic.Sticky `json:"sensitive,omitempty"`
}

// Endpoint auth and approval settings.
const (
	AuthPublic       = "public"
	AuthToken        = "token"
	ApprovalRequired = "required"
	ApprovalNone     = "none"
)

// Protection limits an endpoint's load and protects its callers from a
// failing candidate.
type Protection struct {
	// RateLimit is the most requests per second the endpoint accepts; more
	// get 429 with Retry-After. 0 means no limit.
	RateLimit float64 `json:"rateLimit,omitempty"`
	// Burst is how many requests may arrive at once above the rate; 0 means
	// the rate rounded up.
	Burst int `json:"burst,omitempty"`
	// MaxConcurrency is the most predictions running at once; more get 429.
	// 0 means no limit.
	MaxConcurrency int `json:"maxConcurrency,omitempty"`
	// Timeout bounds each prediction (504 after it), e.g. "500ms".
	Timeout traffic.Duration `json:"timeout,omitempty"`
	// Fallback answers with the stable version (the split entry with the
	// most weight, or the blue-green active one) when another version fails or times out;
	// the failure still counts against that version.
	Fallback bool `json:"fallback,omitempty"`
}

func (p *Protection) validate() error {
	switch {
	case p.RateLimit < 0 || math.IsNaN(p.RateLimit) || math.IsInf(p.RateLimit, 0):
		return fmt.Errorf("%w: protection.rateLimit: must be a non-negative number", ErrInvalid)
	case p.Burst < 0:
		return fmt.Errorf("%w: protection.burst: must not be negative", ErrInvalid)
	case p.MaxConcurrency < 0:
		return fmt.Errorf("%w: protection.maxConcurrency: must not be negative", ErrInvalid)
	case p.Timeout < 0:
		return fmt.Errorf("%w: protection.timeout: must not be negative", ErrInvalid)
	}
	return nil
}

// Validate checks the spec's fields, naming the first bad one.
func (sp *EndpointSpec) Validate() error {
	if sp.Model == "" {
		return fmt.Errorf("%w: model: must not be empty", ErrInvalid)
	}
	switch sp.Auth {
	case "", AuthPublic, AuthToken:
	default:
		return fmt.Errorf("%w: auth: %q is not one of public, token", ErrInvalid, sp.Auth)
	}
	switch sp.Approval {
	case "", ApprovalNone, ApprovalRequired:
	default:
		return fmt.Errorf("%w: approval: %q is not one of required, none", ErrInvalid, sp.Approval)
	}
	if sp.Protection != nil {
		if err := sp.Protection.validate(); err != nil {
			return err
		}
	}
	if m := sp.Monitoring; m != nil && m.Sensitive != nil && (m.Sensitive.Header == "") == (m.Sensitive.Feature == "") {
		return fmt.Errorf("%w: monitoring.sensitive: give exactly one of header and feature", ErrInvalid)
	}
	if sp.SegmentBy != nil && (sp.SegmentBy.Header == "") == (sp.SegmentBy.Feature == "") {
		return fmt.Errorf("%w: segmentBy: give exactly one of header and feature", ErrInvalid)
	}
	if sp.Traffic != nil {
		if err := sp.Traffic.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		sp.Version = ""
		return nil
	}
	sp.Version = splitRef(strings.TrimSpace(sp.Version))
	if sp.Version == "" {
		return fmt.Errorf("%w: version: must be a version number, an alias or \"latest\"", ErrInvalid)
	}
	if n, err := strconv.Atoi(sp.Version); err == nil && n <= 0 {
		return fmt.Errorf("%w: version: %d is not a positive version number", ErrInvalid, n)
	}
	return nil
}

// Endpoint is an endpoint as the API shows it: its spec, and the version
// the spec resolves to right now.
type Endpoint struct {
	Name      string       `json:"name"`
	Spec      EndpointSpec `json:"spec"`
	Revision  int64        `json:"revision"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	// ServingVersion is the version the spec resolves to now (0 if it does not resolve).
	ServingVersion int `json:"serving_version"`
	// Error says why the spec does not resolve or load, if it does not.
	Error string `json:"error,omitempty"`
	// ChangedBy is who wrote the revision and Deleted marks the entry that
	// records a deletion; both only in EndpointHistory.
	ChangedBy string `json:"changed_by,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

func decodeSpec(e store.Endpoint) (EndpointSpec, error) {
	var sp EndpointSpec
	if err := json.Unmarshal(e.Spec, &sp); err != nil {
		return sp, fmt.Errorf("endpoint %s revision %d: decoding spec: %w", e.Name, e.Revision, err)
	}
	return sp, nil
}

func (s *Service) view(ctx context.Context, e store.Endpoint) (Endpoint, error) {
	sp, err := decodeSpec(e)
	if err != nil {
		return Endpoint{}, err
	}
	out := Endpoint{Name: e.Name, Spec: sp, Revision: e.Revision, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if sp.Traffic != nil {
		return out, nil
	}
	if v, err := s.db.ResolveVersion(ctx, sp.Model, sp.Version); err != nil {
		out.Error = err.Error()
	} else {
		out.ServingVersion = v.Version
	}
	return out, nil
}

// checkVersions checks that every version the spec names exists.
func (s *Service) checkVersions(ctx context.Context, name string, sp EndpointSpec) error {
	if sp.Traffic == nil {
		if _, err := s.db.ResolveVersion(ctx, sp.Model, sp.Version); err != nil {
			return fmt.Errorf("endpoint %s: model %s version %q: %w", name, sp.Model, sp.Version, err)
		}
		return nil
	}
	for _, v := range sp.Traffic.Versions() {
		if _, err := s.db.GetVersion(ctx, sp.Model, v); err != nil {
			return fmt.Errorf("endpoint %s: traffic: model %s version %d: %w", name, sp.Model, v, err)
		}
	}
	return nil
}

// CreateEndpoint creates an endpoint serving spec and makes it live.
func (s *Service) CreateEndpoint(ctx context.Context, name string, spec EndpointSpec) (Endpoint, error) {
	if err := spec.Validate(); err != nil {
		return Endpoint{}, err
	}
	if err := s.checkVersions(ctx, name, spec); err != nil {
		return Endpoint{}, err
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return Endpoint{}, err
	}
	e, err := s.db.CreateEndpoint(ctx, name, raw)
	if err != nil {
		return Endpoint{}, err
	}
	s.syncAfterWrite(ctx)
	return s.view(ctx, e)
}

// UpdateEndpoint applies fn to the endpoint's spec, stores the result as a
// new revision and makes it live.
func (s *Service) UpdateEndpoint(ctx context.Context, name string, fn func(*EndpointSpec) error) (Endpoint, error) {
	e, err := s.db.UpdateEndpoint(ctx, name, s.EndpointChange(ctx, name, fn))
	if err != nil {
		return Endpoint{}, err
	}
	s.syncAfterWrite(ctx)
	return s.view(ctx, e)
}

// EndpointChange turns fn, a change to an endpoint's spec, into the store's
// form of it, which validates the result and checks that its versions
// exist. Callers that change an endpoint in a transaction of their own (a
// rollout transition) use it, then call Sync.
func (s *Service) EndpointChange(ctx context.Context, name string, fn func(*EndpointSpec) error) func(store.Endpoint) (json.RawMessage, error) {
	return func(cur store.Endpoint) (json.RawMessage, error) {
		sp, err := decodeSpec(cur)
		if err != nil {
			return nil, err
		}
		if err := fn(&sp); err != nil {
			return nil, err
		}
		if err := sp.Validate(); err != nil {
			return nil, err
		}
		if err := s.checkVersions(ctx, name, sp); err != nil {
			return nil, err
		}
		return json.Marshal(sp)
	}
}

// View returns the API form of a stored endpoint.
func (s *Service) View(ctx context.Context, e store.Endpoint) (Endpoint, error) {
	return s.view(ctx, e)
}

// SetVersion points an endpoint at a version reference.
func (s *Service) SetVersion(ctx context.Context, name, ref string) (Endpoint, error) {
	return s.UpdateEndpoint(ctx, name, func(sp *EndpointSpec) error {
		sp.Version = ref
		sp.Traffic = nil // one version takes all traffic again
		sp.Rolling = nil
		return nil
	})
}

// DeleteEndpoint removes an endpoint and stops serving it.
func (s *Service) DeleteEndpoint(ctx context.Context, name string) error {
	if err := s.db.DeleteEndpoint(ctx, name); err != nil {
		return err
	}
	s.syncAfterWrite(ctx)
	return nil
}

// GetEndpoint returns one endpoint.
func (s *Service) GetEndpoint(ctx context.Context, name string) (Endpoint, error) {
	e, err := s.db.GetEndpoint(ctx, name)
	if err != nil {
		return Endpoint{}, err
	}
	return s.view(ctx, e)
}

// ListEndpoints returns every endpoint.
func (s *Service) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	es, err := s.db.ListEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(es))
	for _, e := range es {
		v, err := s.view(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// EndpointHistory returns every revision of an endpoint, oldest first.
func (s *Service) EndpointHistory(ctx context.Context, name string) ([]Endpoint, error) {
	es, err := s.db.EndpointHistory(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(es))
	for _, e := range es {
		sp, err := decodeSpec(e)
		if err != nil {
			return nil, err
		}
		out = append(out, Endpoint{Name: e.Name, Spec: sp, Revision: e.Revision, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
			ChangedBy: e.ChangedBy, Deleted: e.Deleted})
	}
	return out, nil
}

// SetAlias moves a model's alias to a version; endpoints following the
// alias switch at once.
func (s *Service) SetAlias(ctx context.Context, model, alias string, version int, actor string) (store.AliasChange, error) {
	c, err := s.db.SetAlias(ctx, model, splitRef(alias), version, actor)
	if err != nil {
		return c, err
	}
	s.syncAfterWrite(ctx)
	return c, nil
}

// DeleteAlias removes a model's alias. Endpoints following it stop
// resolving and keep serving what they served until they are changed.
func (s *Service) DeleteAlias(ctx context.Context, model, alias, actor string) error {
	if err := s.db.DeleteAlias(ctx, model, splitRef(alias), actor); err != nil {
		return err
	}
	s.syncAfterWrite(ctx)
	return nil
}

// syncAfterWrite rebuilds the routing table after a write. The write has
// committed, so a failure here is logged, not returned: Run's poll retries.
func (s *Service) syncAfterWrite(ctx context.Context) {
	if err := s.Sync(ctx); err != nil {
		s.log.Error("rebuilding routing table", "err", err)
	}
}

// Attach sets the router that receives routing tables.
func (s *Service) Attach(r Router) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.router = r
}

// Sync builds a routing table from the store and hands it to the router.
func (s *Service) Sync(ctx context.Context) error {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	if s.router == nil {
		return nil
	}
	snap, inUse, err := s.build(ctx)
	if err != nil {
		return err
	}
	s.router.Swap(snap)
	s.loaded.setTable(inUse, 10*time.Minute)
	return nil
}

// build reads every endpoint, resolves its version and loads it. An endpoint
// whose version does not resolve keeps the version the current table serves
// (an alias deleted under it must not take it down).
func (s *Service) build(ctx context.Context) (*gateway.Snapshot, map[string]bool, error) {
	rev, err := s.db.Revision(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading store revision: %w", err)
	}
	es, err := s.db.ListEndpoints(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing endpoints: %w", err)
	}
	var prev *gateway.Snapshot
	if g, ok := s.router.(interface{ Current() *gateway.Snapshot }); ok {
		prev = g.Current()
	}
	snap := &gateway.Snapshot{Revision: rev, Endpoints: make(map[string]*gateway.Endpoint, len(es))}
	inUse := map[string]bool{}
	for _, e := range es {
		sp, err := decodeSpec(e)
		if err != nil {
			s.log.Error("skipping endpoint", "endpoint", e.Name, "err", err)
			continue
		}
		ep, err := s.buildEndpoint(ctx, e.Name, sp, inUse)
		if err != nil {
			if prev != nil && prev.Endpoints[e.Name] != nil {
				s.log.Warn("endpoint does not resolve; keeping what it serves", "endpoint", e.Name, "err", err)
				snap.Endpoints[e.Name] = prev.Endpoints[e.Name]
				for _, b := range prev.Endpoints[e.Name].Backends {
					inUse[b.Key] = true
				}
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return nil, nil, fmt.Errorf("endpoint %s: %w", e.Name, err)
			}
			s.log.Error("endpoint does not resolve", "endpoint", e.Name, "err", err)
			continue
		}
		snap.Endpoints[e.Name] = ep
	}
	return snap, inUse, nil
}

// buildEndpoint resolves and loads the versions of one endpoint and
// compiles its traffic plan.
func (s *Service) buildEndpoint(ctx context.Context, name string, sp EndpointSpec, inUse map[string]bool) (*gateway.Endpoint, error) {
	policy := sp.Traffic
	if policy == nil {
		v, err := s.db.ResolveVersion(ctx, sp.Model, sp.Version)
		if err != nil {
			return nil, err
		}
		policy = &traffic.Policy{Split: []traffic.Split{{Version: v.Version, Weight: 1}}}
	}
	ep := &gateway.Endpoint{Name: name, Model: sp.Model, Backends: map[int]*gateway.Backend{}}
	for _, n := range policy.Versions() {
		v, err := s.db.GetVersion(ctx, sp.Model, n)
		if err != nil {
			return nil, err
		}
		inUse[cacheKey(v)] = true
		ep.Backends[n] = s.backend(ctx, v)
	}
	var bandit traffic.BanditState
	if policy.Bandit != nil {
		var err error
		if bandit, err = s.banditFor(ctx, name, *policy.Bandit); err != nil {
			return nil, err
		}
	}
	plan, err := traffic.Compile(*policy, bandit)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ep.Plan = plan
	if st, ok := plan.Sticky(); ok {
		ep.StickyHeader, ep.StickyFeature = st.Header, st.Feature
	}
	if sp.SegmentBy != nil {
		ep.SegmentHeader, ep.SegmentFeature = sp.SegmentBy.Header, sp.SegmentBy.Feature
	}
	if sp.Protection != nil {
		ep.Guard = s.guardFor(name, *sp.Protection, stableVersion(policy))
	}
	ep.RequireToken = sp.Auth == AuthToken
	if m := sp.Monitoring; m != nil && m.Sensitive != nil {
		ep.SensitiveHeader, ep.SensitiveFeature = m.Sensitive.Header, m.Sensitive.Feature
	}
	return ep, nil
}

// Run keeps the routing table in step with the store: it builds one at
// once, then polls the store's revision every interval and rebuilds when it
// moves (another node changed something), until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	if err := s.Sync(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: a shutdown, not a failure
		}
		return fmt.Errorf("building the first routing table: %w", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.SaveBandits(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
		}
		s.saveBandits(ctx)
		s.advanceRollings(ctx, time.Now())
		rev, err := s.db.Revision(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("polling store revision", "err", err)
			continue
		}
		s.buildMu.Lock()
		var cur int64 = -1
		if g, ok := s.router.(interface{ Current() *gateway.Snapshot }); ok && g.Current() != nil {
			cur = g.Current().Revision
		}
		s.buildMu.Unlock()
		if rev != cur {
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("rebuilding routing table", "err", err)
			}
		}
	}
}

// stableVersion is the version a failing candidate falls back to: the split
// entry with the most weight (the first among equals) or the blue-green
// active version; 0 for bandits.
func stableVersion(p *traffic.Policy) int {
	switch {
	case len(p.Split) > 0:
		best := p.Split[0]
		for _, sp := range p.Split[1:] {
			if sp.Weight > best.Weight {
				best = sp
			}
		}
		return best.Version
	case p.BlueGreen != nil:
		return p.BlueGreen.Active
	}
	return 0
}

// guardFor returns the endpoint's guard, reusing the one already built for
// the same settings so its token bucket and counters carry over swaps.
func (s *Service) guardFor(endpoint string, p Protection, stable int) *gateway.Guard {
	key, _ := json.Marshal(struct {
		P      Protection
		Stable int
	}{p, stable})
	s.banditMu.Lock()
	defer s.banditMu.Unlock()
	if g := s.guards[endpoint]; g != nil && g.key == string(key) {
		return g.guard
	}
	g := gateway.NewGuard(p.RateLimit, p.Burst, p.MaxConcurrency)
	g.Timeout = time.Duration(p.Timeout)
	g.Fallback = p.Fallback && stable > 0
	g.FallbackVersion = stable
	s.guards[endpoint] = &guardEntry{key: string(key), guard: g}
	return g
}

type guardEntry struct {
	key   string
	guard *gateway.Guard
}

// Rejected returns how many requests each protected endpoint refused.
func (s *Service) Rejected() map[string]uint64 {
	s.banditMu.Lock()
	defer s.banditMu.Unlock()
	out := make(map[string]uint64, len(s.guards))
	for name, g := range s.guards {
		out[name] = g.guard.Rejected()
	}
	return out
}
