package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/batching"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/store"
)

// Router receives new routing tables; the gateway implements it.
type Router interface {
	Swap(*gateway.Snapshot)
}

// Options configure a Service.
type Options struct {
	Logger *slog.Logger
	// MaxArtifactBytes bounds pushed artifacts; 0 means 2 GiB.
	MaxArtifactBytes int64
	// Counter reports live request and error counts per version, for
	// health checks between rolling steps; nil disables them.
	Counter VersionCounter
	// ModelMemory is the budget for loaded versions, in bytes; versions no
	// endpoint routes to are evicted least-recently-used above it. 0 means
	// no limit.
	ModelMemory int64
	// TrustedKeys verify artifact signatures at push and load.
	TrustedKeys signing.Keyring
	// RequireSignature refuses versions without a valid signature by one of
	// TrustedKeys: pushes fail, and stored versions are not loaded.
	RequireSignature bool
}

// Service is the registry and endpoint manager.
type Service struct {
	db      *store.DB
	blobs   *artifact.Store
	formats *inference.Formats
	log     *slog.Logger
	opts    Options

	buildMu sync.Mutex // serialises snapshot builds and swaps
	router  Router     // guarded by buildMu

	loaded  *loadedSet // versions loaded in memory
	counter VersionCounter

	banditMu sync.Mutex
	bandits  map[string]*banditEntry // learning state by endpoint; guarded by banditMu
	guards   map[string]*guardEntry  // protection by endpoint; guarded by banditMu
}

// New returns a Service over a store, an artifact store and formats.
func New(db *store.DB, blobs *artifact.Store, formats *inference.Formats, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxArtifactBytes <= 0 {
		opts.MaxArtifactBytes = 2 << 30
	}
	return &Service{db: db, blobs: blobs, formats: formats, log: opts.Logger, opts: opts, loaded: newLoadedSet(opts.ModelMemory, opts.Logger), counter: opts.Counter, bandits: map[string]*banditEntry{}, guards: map[string]*guardEntry{}}
}

// Formats returns the registered model formats.
func (s *Service) Formats() *inference.Formats { return s.formats }

// Store returns the underlying store.
func (s *Service) Store() *store.DB { return s.db }

// MaxArtifactBytes is the largest artifact Push accepts.
func (s *Service) MaxArtifactBytes() int64 { return s.opts.MaxArtifactBytes }

// PushRequest is a new model version.
type PushRequest struct {
	Model       string
	Format      string // empty: detect from the artifact
	Description string
	Labels      map[string]string
	Metrics     map[string]float64
	// Signature overrides or completes what the artifact carries.
	Signature *inference.Signature
	// Params are runtime parameters (e.g. "threads").
	Params map[string]string
	Actor  string
	// Artifact is the model file.
	Artifact []byte
	// ArtifactSignature signs the artifact's digest and the model name
	// (signing.SignArtifact); nil when unsigned.
	ArtifactSignature *signing.Signature
	// Baseline, when set, is the training sample summarised into the
	// version's drift baseline (features and the version's predictions).
	Baseline *BaselineSpec
}

// Errors the API maps to status codes.
var (
	// ErrInvalid marks a request that is wrong in itself (400).
	ErrInvalid = errors.New("invalid request")
)

// Push validates and stores a new version: it detects or checks the format,
// loads the artifact with its runtime (refusing corrupt files), stores the
// artifact by digest and writes the version in one transaction.
func (s *Service) Push(ctx context.Context, req PushRequest) (store.Version, error) {
	if len(req.Artifact) == 0 {
		return store.Version{}, fmt.Errorf("%w: artifact: the model file is empty", ErrInvalid)
	}
	format := req.Format
	if format == "" {
		f, err := s.formats.Detect(req.Artifact)
		if err != nil {
			return store.Version{}, err
		}
		format = f
	}
	opts, err := loadOptions(req.Signature, req.Params)
	if err != nil {
		return store.Version{}, err
	}
	if req.Signature != nil {
		if err := req.Signature.Validate(); err != nil {
			return store.Version{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if _, _, err := batching.ParseParams(req.Params); err != nil {
		return store.Version{}, fmt.Errorf("%w: params: %v", ErrInvalid, err)
	}
	sum := sha256.Sum256(req.Artifact)
	asig, err := s.checkSignature(req.Model, hex.EncodeToString(sum[:]), req.ArtifactSignature)
	if err != nil {
		return store.Version{}, err
	}
	loadStart := time.Now()
	m, err := s.formats.Load(ctx, format, req.Artifact, opts)
	loadTook := time.Since(loadStart)
	if err != nil {
		return store.Version{}, fmt.Errorf("loading %s as %s: %w", req.Model, format, err)
	}
	m = withBatching(m, req.Params)
	sig := m.Signature()
	if err := sig.Validate(); err != nil {
		closeModel(m)
		return store.Version{}, fmt.Errorf("%w: model %s: %v", inference.ErrInvalidModel, req.Model, err)
	}
	sigJSON, err := json.Marshal(sig)
	if err != nil {
		closeModel(m)
		return store.Version{}, fmt.Errorf("encoding signature: %w", err)
	}
	var baseline *drift.Baseline
	var baselineDigest string
	if req.Baseline != nil {
		if baseline, err = buildBaseline(ctx, m, *req.Baseline); err == nil {
			baselineDigest, err = s.storeBaseline(ctx, baseline)
		}
		if err != nil {
			closeModel(m)
			return store.Version{}, err
		}
	}
	digest, size, err := s.blobs.PutBytes(ctx, req.Artifact)
	if err != nil {
		closeModel(m)
		return store.Version{}, fmt.Errorf("storing artifact: %w", err)
	}
	if s.sharedArtifacts() {
		// Other nodes read the artifact from the shared store.
		if err := s.db.PutArtifact(ctx, digest, req.Artifact); err != nil {
			closeModel(m)
			return store.Version{}, err
		}
	}
	params := req.Params
	if req.Signature != nil {
		// Keep the user's signature so reloads see the same names.
		if params == nil {
			params = map[string]string{}
		}
		params[paramSignature] = "user"
	}
	if baselineDigest != "" {
		params = maps.Clone(params)
		if params == nil {
			params = map[string]string{}
		}
		params[paramBaseline] = baselineDigest
	}
	v, err := s.db.CreateVersion(ctx, store.Version{
		Model: req.Model, Format: format, Digest: digest, Size: size,
		Description: req.Description, Labels: req.Labels, Metrics: req.Metrics,
		Signature: sigJSON, Params: params, CreatedBy: req.Actor, ArtifactSignature: asig,
	})
	if err != nil {
		closeModel(m)
		return store.Version{}, err
	}
	b := gateway.NewBackend(v.Model, v.Version, v.Format, m, nil)
	b.Key = cacheKey(v)
	b.Baseline = baseline
	s.loaded.put(b.Key, b, modelSize(m, v.Size), loadTook)
	s.syncAfterWrite(ctx) // endpoints following "latest" move now
	return v, nil
}

// ErrSignature marks a missing or bad artifact signature on a server that
// requires one, or a signature by an untrusted key.
var ErrSignature = errors.New("artifact signature")

// checkSignature verifies sig for an artifact of model with digest (hex)
// against the trusted keys and returns it encoded for the store. Without
// trusted keys a signature is kept unverified (a server that requires
// signatures checks it at load); with RequireSignature a missing one fails.
func (s *Service) checkSignature(model, digest string, sig *signing.Signature) (json.RawMessage, error) {
	if sig == nil {
		if s.opts.RequireSignature {
			return nil, fmt.Errorf("%w: %s is not signed and this server requires versions signed by a trusted key (--require-signature); push with --sign-key", ErrSignature, model)
		}
		return nil, nil
	}
	if s.opts.TrustedKeys != nil {
		if err := s.opts.TrustedKeys.VerifyArtifact(*sig, model, digest); err != nil {
			return nil, fmt.Errorf("%w: %s: %v (trusted keys: %s)", ErrSignature, model, err, strings.Join(s.opts.TrustedKeys.IDs(), ", "))
		}
	}
	b, err := json.Marshal(sig)
	return b, err
}

// paramSignature marks a version whose stored signature was given by the
// user and must be passed back to the runtime when loading.
const paramSignature = "sluice.signature"

func loadOptions(sig *inference.Signature, params map[string]string) (inference.LoadOptions, error) {
	// "threads" and "sluice.*" are Sluice's own; the rest go to the runtime.
	opts := inference.LoadOptions{Signature: sig}
	for k, v := range params {
		if k == "threads" || strings.HasPrefix(k, "sluice.") || batching.IsParam(k) {
			continue
		}
		if opts.Params == nil {
			opts.Params = map[string]string{}
		}
		opts.Params[k] = v
	}
	if t, ok := params["threads"]; ok {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("%w: params.threads: %q is not a non-negative integer", ErrInvalid, t)
		}
		opts.Threads = n
	}
	return opts, nil
}

func closeModel(m inference.Model) {
	if c, ok := m.(io.Closer); ok {
		_ = c.Close()
	}
}

// LoadedModels lists the versions held in memory and the memory budget
// for them (0: none).
func (s *Service) LoadedModels() ([]LoadedModel, int64) { return s.loaded.models() }

// backend returns the loaded version, loading it on first use. A load
// failure is returned as a backend whose Err says why, so one bad version
// does not stop the rest of the table.
func (s *Service) backend(ctx context.Context, v store.Version) *gateway.Backend {
	return s.loaded.get(ctx, cacheKey(v), func() (*gateway.Backend, int64) {
		start := time.Now()
		m, err := s.load(ctx, v)
		if err != nil {
			s.log.Error("loading model version failed", "model", v.Model, "version", v.Version, "err", err)
			b := gateway.NewBackend(v.Model, v.Version, v.Format, nil, err)
			b.Key = cacheKey(v)
			return b, 0
		}
		s.log.Info("loaded model version", "model", v.Model, "version", v.Version, "format", v.Format, "took", time.Since(start))
		b := gateway.NewBackend(v.Model, v.Version, v.Format, m, nil)
		b.Key = cacheKey(v)
		if v.Params[paramBaseline] != "" {
			if b.Baseline, err = s.baselineOf(ctx, v); err != nil {
				s.log.Warn("drift baseline unreadable; serving without drift", "model", v.Model, "version", v.Version, "err", err)
			}
		}
		return b, modelSize(m, v.Size)
	})
}

func (s *Service) load(ctx context.Context, v store.Version) (inference.Model, error) {
	if s.opts.RequireSignature {
		var sig *signing.Signature
		if len(v.ArtifactSignature) > 0 {
			sig = new(signing.Signature)
			if err := json.Unmarshal(v.ArtifactSignature, sig); err != nil {
				return nil, fmt.Errorf("refusing to load %s version %d: stored artifact signature: %w", v.Model, v.Version, err)
			}
		}
		if _, err := s.checkSignature(v.Model, v.Digest, sig); err != nil {
			return nil, fmt.Errorf("refusing to load %s version %d: %w", v.Model, v.Version, err)
		}
	}
	data, err := s.Artifact(ctx, v.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading artifact %s: %w", v.Digest, err)
	}
	var sig *inference.Signature
	if v.Params[paramSignature] == "user" {
		sig = new(inference.Signature)
		if err := json.Unmarshal(v.Signature, sig); err != nil {
			return nil, fmt.Errorf("decoding stored signature: %w", err)
		}
	}
	opts, err := loadOptions(sig, v.Params)
	if err != nil {
		return nil, err
	}
	m, err := s.formats.Load(ctx, v.Format, data, opts)
	if err != nil {
		return nil, fmt.Errorf("loading %s version %d: %w", v.Model, v.Version, err)
	}
	return withBatching(m, v.Params), nil
}

// PinnedBackend loads any version of a model for a request pinned to it.
func (s *Service) PinnedBackend(ctx context.Context, model string, version int) (*gateway.Backend, error) {
	v, err := s.db.GetVersion(ctx, model, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gateway.ErrVersionNotFound
	}
	if err != nil {
		return nil, err
	}
	b := s.backend(ctx, v)
	if b.Err != nil {
		return nil, b.Err
	}
	return b, nil
}

// IsLoaded reports whether a version is loaded, without loading it.
func (s *Service) IsLoaded(model string, version int) bool {
	return s.loaded.has(model, version)
}

// splitRef parses a version reference "3", "@production", "production" or
// "latest" into the form the store resolves.
func splitRef(ref string) string { return strings.TrimPrefix(ref, "@") }

// Artifact returns a stored artifact's bytes, verified against its digest:
// from the local artifact directory, or, on a shared PostgreSQL store, from
// the store (then cached locally) when this node has not seen it yet.
func (s *Service) Artifact(ctx context.Context, digest string) ([]byte, error) {
	data, err := s.blobs.ReadAll(digest)
	if err == nil || !errors.Is(err, artifact.ErrNotFound) || !s.sharedArtifacts() {
		return data, err
	}
	var buf bytes.Buffer
	if err := s.db.ReadArtifact(ctx, digest, &buf); err != nil {
		return nil, err
	}
	got, _, err := s.blobs.PutBytes(ctx, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("caching artifact %s: %w", digest, err)
	}
	if got != digest {
		return nil, fmt.Errorf("artifact %s from the store hashes to %s: %w", digest, got, artifact.ErrCorrupt)
	}
	return buf.Bytes(), nil
}

// sharedArtifacts reports whether artifacts are also kept in the store, for
// nodes that share it.
func (s *Service) sharedArtifacts() bool { return s.db.Dialect() == store.DialectPostgres }

// withBatching wraps m with adaptive batching when the version's params
// turn it on (batch.max_rows > 1). Params were checked at push time.
func withBatching(m inference.Model, params map[string]string) inference.Model {
	cfg, on, err := batching.ParseParams(params)
	if err != nil || !on {
		return m
	}
	return batching.Wrap(m, cfg)
}

// LoadOptionsFor returns the load options a stored version is loaded with:
// its runtime parameters and, when the user gave the signature at push,
// that signature. Batch scoring loads versions fetched from a server with
// it, so they behave as they do when served.
func LoadOptionsFor(signature json.RawMessage, params map[string]string) (inference.LoadOptions, error) {
	var sig *inference.Signature
	if params[paramSignature] == "user" && len(signature) > 0 {
		sig = new(inference.Signature)
		if err := json.Unmarshal(signature, sig); err != nil {
			return inference.LoadOptions{}, fmt.Errorf("decoding stored signature: %w", err)
		}
	}
	return loadOptions(sig, params)
}
