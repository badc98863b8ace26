// Package server composes Sluice: it opens the store and the artifact
// directory, registers the model formats, and runs the data plane (gateway)
// and the control plane (API, registry sync) in one process until its
// context ends, then drains requests in flight.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/leanhttp"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/tracing"
	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/stream"
	"github.com/sluicehq/sluice/internal/version"
)

// Config is everything `sluice server` takes.
type Config struct {
	// Addr is the listen address; ":0" picks a free port.
	Addr string
	// GRPCAddr is the Open Inference Protocol gRPC listen address; "" is off.
	GRPCAddr string
	// DataDir holds the embedded store and the artifacts.
	DataDir string
	// Store is a store DSN; empty means SQLite in DataDir.
	Store string
	// MaxBodyBytes bounds inference request bodies.
	MaxBodyBytes int64
	// MaxArtifactBytes bounds pushed model files.
	MaxArtifactBytes int64
	// ModelMemory is the memory budget for loaded versions (0: no limit).
	ModelMemory int64
	// MaxElements bounds the tensor elements of one request.
	MaxElements int
	// PollInterval is how often the store's revision is checked for
	// changes made by other nodes.
	PollInterval time.Duration
	// RolloutTick is how often the rollout controller looks at active
	// rollouts.
	RolloutTick time.Duration
	// FeedbackMemory is how many answered requests are remembered for
	// feedback to join; FeedbackHorizon how long.
	FeedbackMemory  int
	FeedbackHorizon time.Duration
	// PredictionLog is the prediction log's directory (a file sink with
	// PredictionLogSample); empty means DataDir/predictions. "off"
	// disables it. PredictionLogConfig, a YAML/JSON predlog.Config file,
	// replaces both when set (several sinks, webhooks, redaction).
	PredictionLog       string
	PredictionLogSample float64
	PredictionLogConfig string
	// DriftWindow is the live drift window: a duration ("1h") or a row
	// count ("10000"); empty means monitor.DefaultDriftWindow.
	DriftWindow string
	// PerformanceWindow is the span of the model-quality window (0: 1h).
	PerformanceWindow time.Duration
	// AlertRules is the path of an alert rules file; empty means no alerts.
	AlertRules string
	// FeedbackTopic is a broker URL (nats://, kafka://, mqtt://) feedback
	// messages are read from, in any form POST /v1/feedback takes; ""
	// reads none.
	FeedbackTopic string
	// StreamAckWait is how long a broker waits for a stream pipeline's
	// acknowledgement before delivering a message again (JetStream), which
	// is how soon a crashed node's messages in flight are replayed; 0
	// means 30s.
	StreamAckWait time.Duration
	// MirrorQueue bounds shadow and challenger copies waiting to run.
	MirrorQueue int
	// MirrorGather is how long a copy to an external model server waits
	// for others to go with it in one pipelined batch; 0 means 500µs,
	// negative sends each at once.
	MirrorGather time.Duration
	// ShutdownTimeout bounds the drain of requests in flight.
	ShutdownTimeout time.Duration
	// ONNXRuntimeLib is the path of the ONNX Runtime shared library; empty
	// means SLUICE_ONNXRUNTIME_LIB or the default places.
	ONNXRuntimeLib string
	// Security configures authentication, TLS, signatures and the audit trail.
	Security Security
	// ReadTimeout, WriteTimeout and IdleTimeout bound slow clients (0: 10m,
	// 10m, 2m). They cover whole requests and answers, so pushes of large
	// artifacts must finish within them.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// NoHTTPFastPath serves every request through net/http. By default,
	// without TLS, the inference routes are answered by a lean HTTP/1.1
	// loop (internal/leanhttp) and every other connection is handed to
	// net/http (docs/benchmarks.md).
	NoHTTPFastPath bool
	// OTLPEndpoint turns tracing on, exporting spans to this OTLP
	// collector URL (http(s)://host:4318 or grpc(s)://host:4317); empty
	// leaves it to the OTEL_EXPORTER_OTLP_* environment variables, and
	// tracing is off when they are unset too (docs/tracing.md).
	OTLPEndpoint string
	// Role is "all" (the default: every part) or "worker" (only the batch
	// job worker, which claims shards from the shared store and serves
	// nothing).
	Role string
	// NoJobWorker keeps a role "all" server from scoring batch shards
	// itself (it still plans runs and serves the job API), for deployments
	// whose workers run apart.
	NoJobWorker bool
	// WorkerID names this process in shard claims; default host-pid.
	WorkerID string
	// JobRoots, when set, are the only directories batch jobs may read
	// and write.
	JobRoots []string
	// JobLease is how long a claimed shard stays this worker's without a
	// heartbeat; a dead worker's shards are claimed again after it.
	JobLease time.Duration
	// Logger receives the server's logs.
	Logger *slog.Logger
}

// Defaults fills the zero fields of c.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "sluice-data"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.PredictionLogSample == 0 && c.PredictionLog == "" {
		c.PredictionLogSample = 1
	}
	if c.FeedbackMemory <= 0 {
		c.FeedbackMemory = 1_000_000
	}
	if c.FeedbackHorizon <= 0 {
		c.FeedbackHorizon = 24 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.Role == "" {
		c.Role = RoleAll
	}
}

// Roles a server process can take.
const (
	RoleAll    = "all"
	RoleWorker = "worker"
)

// Run serves until ctx ends, then drains. ready, if not nil, is called with
// the listening address once the server accepts requests.
func Run(ctx context.Context, cfg Config, ready func(addr string)) error {
	cfg.Defaults()
	log := cfg.Logger
	start := time.Now()
	if cfg.Role != RoleAll && cfg.Role != RoleWorker {
		return fmt.Errorf("--role: %q is not one of all, worker", cfg.Role)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	dsn := cfg.Store
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(cfg.DataDir, "sluice.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer db.Close()
	blobs, err := artifact.Open(filepath.Join(cfg.DataDir, "artifacts"))
	if err != nil {
		return fmt.Errorf("opening artifact directory: %w", err)
	}

	if cfg.Role == RoleWorker {
		return runWorker(ctx, cfg, db, blobs)
	}

	sec, err := setupSecurity(ctx, cfg, db, log)
	if err != nil {
		return err
	}

	gateway.Version = version.Version
	tp, stopTracing, err := tracing.Setup(ctx, tracing.Config{Endpoint: cfg.OTLPEndpoint, Version: version.Version, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// Flush the spans still queued, briefly: the collector may be gone.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}()
	if tp != nil {
		log.Info("tracing on", "otlp_endpoint", cfg.OTLPEndpoint)
	}
	plog, plogDir, err := openPredictionLog(cfg, log)
	if err != nil {
		return err
	}
	dp := api.DataPlane{Live: monitor.NewLive(), Comparison: monitor.NewComparison(), Outcomes: monitor.NewOutcomes()}
	if err := setupMonitors(&cfg, &dp); err != nil {
		return err
	}
	alerts, err := setupAlerts(cfg, dp)
	if err != nil {
		return err
	}
	recent := monitor.NewRecent(cfg.FeedbackMemory, cfg.FeedbackHorizon)
	reg := registry.New(db, blobs, Formats(cfg.ONNXRuntimeLib, log), registry.Options{Logger: log, MaxArtifactBytes: cfg.MaxArtifactBytes, ModelMemory: cfg.ModelMemory, Counter: dp.Live,
		TrustedKeys: sec.trusted, RequireSignature: cfg.Security.RequireSignature})

	gw := gateway.New(gateway.Options{
		Logger: log, MaxBodyBytes: cfg.MaxBodyBytes,
		Limits: oip.Limits{MaxElements: cfg.MaxElements}, Pinner: reg,
		Recent:      recent,
		Outcomes:    dp.Outcomes,
		Comparison:  dp.Comparison,
		Live:        dp.Live,
		Drift:       dp.Drift,
		Performance: dp.Performance,
		Fairness:    dp.Fairness,
		Rewards:     reg,
		Mirror:      gateway.MirrorOptions{Queue: cfg.MirrorQueue, Gather: cfg.MirrorGather},
		PredLog:     plog,
		Authorizer:  sec.authn,
		Tracing:     tp,
	})
	dp.Gateway = gw
	reg.Attach(gw)
	if err := reg.Sync(ctx); err != nil {
		return fmt.Errorf("building the routing table: %w", err)
	}

	rollouts := rollout.New(reg, rollout.Monitors{Live: dp.Live, Comparison: dp.Comparison, Outcomes: dp.Outcomes, Drift: rollout.LiveDrift{Drift: dp.Drift}},
		rollout.Options{Logger: log, Tick: cfg.RolloutTick})

	streamMetrics := stream.NewMetrics(nil)
	streamRunner := newStreams(db, gw, streamMetrics, log, cfg.PollInterval, cfg.StreamAckWait)

	mux := http.NewServeMux()
	gw.Register(mux)
	mux.Handle("GET /metrics", metricsHandler(dp, gw, reg, recent, plog, streamMetrics.Collectors()...))
	jobSvc := jobs.New(reg, jobs.Options{WorkerID: cfg.WorkerID, Lease: cfg.JobLease, Roots: cfg.JobRoots, Logger: log.With("component", "jobs")})
	controlAPI := api.New(reg, api.Options{Logger: log, Version: version.String(), DataPlane: dp, PredictionLogDir: plogDir, AuditKeys: sec.keys, Rollouts: rollouts, Alerts: alerts, Streams: streamRunner, Jobs: jobSvc})
	controlAPI.Register(mux)
	handler := refuseEncodedBodies(sec.authn.Middleware(mux, controlAPI.RoleOf(mux)))
	if sec.tls != nil && sec.tls.ClientCAs != nil {
		handler = auth.CertMiddleware(handler)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	// lean answers the inference routes ahead of net/http on plain TCP;
	// nil serves everything through srv.
	var lean *leanhttp.Server
	if sec.tls != nil {
		ln = tls.NewListener(ln, sec.tls)
		scheme = "https"
	} else if !cfg.NoHTTPFastPath {
		lean = leanhttp.New(gw, leanhttp.Options{
			ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout,
			MaxBodyBytes: gw.MaxBodyBytes(), Logger: log,
		})
	}
	var gs *gateway.GRPCServer
	var gln net.Listener
	if cfg.GRPCAddr != "" {
		if gln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s for gRPC: %w", cfg.GRPCAddr, err)
		}
		var gopts []grpc.ServerOption
		if sec.tls != nil {
			gopts = append(gopts, grpc.Creds(credentials.NewTLS(sec.tls)))
		}
		gs = gw.NewGRPCServer(gopts...)
		log.Info("sluice serving gRPC", "grpc_addr", gln.Addr().String())
	}
	log.Info("sluice serving", "addr", ln.Addr().String(), "scheme", scheme, "http_fast_path", lean != nil, "auth", !cfg.Security.AuthOff, "store", db.Dialect(), "data_dir", cfg.DataDir, "version", version.String(), "startup", time.Since(start).Round(time.Millisecond))
	if ready != nil {
		ready(ln.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	httpLn := ln
	if lean != nil {
		httpLn = lean.Handoff()
		g.Go(func() error {
			if err := lean.Serve(ln); !errors.Is(err, leanhttp.ErrServerClosed) {
				return fmt.Errorf("serving HTTP: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := srv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving HTTP: %w", err)
		}
		return nil
	})
	if gs != nil {
		g.Go(func() error {
			if err := gs.Serve(gln); err != nil {
				return fmt.Errorf("serving gRPC: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := gs.Shutdown(sctx); err != nil {
				return fmt.Errorf("draining gRPC: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { return reg.Run(gctx, cfg.PollInterval) })
	g.Go(func() error { return rollouts.Run(gctx) })
	if !cfg.NoJobWorker {
		g.Go(func() error { return jobSvc.Run(gctx) })
	}
	g.Go(func() error { return gw.Run(gctx) })
	g.Go(func() error { return streamRunner.Run(gctx) })
	if cfg.FeedbackTopic != "" {
		g.Go(func() error {
			return stream.RunFeedback(gctx, cfg.FeedbackTopic, gw.JoinFeedback, streamMetrics, log)
		})
	}
	if sec.signKey != nil {
		g.Go(func() error { return signAuditHeads(gctx, db, sec.signKey, cfg.Security.AuditSignInterval, log) })
	}
	if plog != nil {
		g.Go(func() error { return plog.Run(gctx) })
	}
	if alerts != nil {
		alerts.SetExternalURL(scheme + "://" + strings.TrimPrefix(strings.TrimPrefix(URL(ln.Addr().String()), "http://"), "https://"))
		g.Go(func() error { return alerts.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: draining requests in flight", "timeout", cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return drainHTTP(sctx, srv, lean)
	})
	err = g.Wait()
	log.Info("sluice stopped")
	return err
}

// readHeaderTimeout bounds reading a request's line and headers.
const readHeaderTimeout = 10 * time.Second

// drainHTTP shuts the lean path (when there is one) and net/http down
// together: neither accepts more, idle connections close, requests in
// flight finish until ctx ends.
func drainHTTP(ctx context.Context, srv *http.Server, lean *leanhttp.Server) error {
	var leanErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if lean != nil {
			leanErr = lean.Shutdown(ctx)
		}
	}()
	err := srv.Shutdown(ctx)
	<-done
	if err = errors.Join(err, leanErr); err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	return nil
}

// URL returns the http:// URL for a listen address, mapping a wildcard host
// to loopback.
func URL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
