package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/batch"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
)

// BaselineSource finds the training-data baseline of a model version, for
// the drift of a run's input. It returns nil, nil when the version has
// none.
type BaselineSource interface {
	Baseline(ctx context.Context, model string, version int) (*drift.Baseline, error)
}

// versionBaseliner is a registry that stores versions' drift baselines;
// VersionBaseline's error wraps store.ErrNotFound when a version has none.
type versionBaseliner interface {
	VersionBaseline(ctx context.Context, model string, version int) (*drift.Baseline, error)
}

// registryBaselines adapts a versionBaseliner to BaselineSource.
type registryBaselines struct{ r versionBaseliner }

func (b registryBaselines) Baseline(ctx context.Context, model string, version int) (*drift.Baseline, error) {
	base, err := b.r.VersionBaseline(ctx, model, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return base, err
}

// Options configure a Service.
type Options struct {
	// WorkerID names this worker in shard claims; default host-pid.
	WorkerID string
	// Lease is how long a claimed shard stays this worker's without a
	// heartbeat; a dead worker's shard is claimed again after it. Default
	// 30s; heartbeats come every Lease/3.
	Lease time.Duration
	// Poll is how often an idle worker looks for work and due schedules;
	// default 1s.
	Poll time.Duration
	// Baselines finds versions' baselines; nil records "no baseline".
	Baselines BaselineSource
	// Roots, when set, are the only directories jobs may read inputs from
	// and write outputs to (symbolic links resolved); empty allows any path
	// the server can reach.
	Roots []string
	// FS opens inputs; nil is the local file system.
	FS     batch.FS
	Logger *slog.Logger
}

// Service submits, plans and runs jobs.
type Service struct {
	db   *store.DB
	reg  *registry.Service
	opts Options
	log  *slog.Logger
}

// New returns a Service.
func New(reg *registry.Service, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.WorkerID == "" {
		host, _ := os.Hostname()
		opts.WorkerID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if opts.FS == nil {
		opts.FS = batch.LocalFS{}
	}
	if opts.Baselines == nil {
		// A registry that keeps versions' baselines provides them.
		if vb, ok := any(reg).(versionBaseliner); ok {
			opts.Baselines = registryBaselines{vb}
		}
	}
	return &Service{db: reg.Store(), reg: reg, opts: opts, log: opts.Logger}
}

// ErrInvalid marks a bad job spec (400).
var ErrInvalid = registry.ErrInvalid

// Submit stores a job (creating it or replacing its spec) and, for a job
// without a schedule, starts a run at once.
func (s *Service) Submit(ctx context.Context, d Document) (store.Job, *store.JobRun, bool, error) {
	if err := store.ValidateName("metadata.name", d.Metadata.Name); err != nil {
		return store.Job{}, nil, false, err
	}
	d.Spec.Defaults()
	if err := d.Spec.Validate(); err != nil {
		return store.Job{}, nil, false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// Resolve the model and read the input now, so a typo fails the
	// submission rather than the first run.
	if _, _, err := s.resolve(ctx, d.Spec); err != nil {
		return store.Job{}, nil, false, err
	}
	if err := s.checkRoots(d.Spec); err != nil {
		return store.Job{}, nil, false, err
	}
	if _, err := batch.Split(ctx, s.opts.FS, d.Spec.Input, d.Spec.InputFormat, 1); err != nil {
		return store.Job{}, nil, false, fmt.Errorf("%w: spec.input: %v", ErrInvalid, err)
	}
	spec, err := json.Marshal(d.Spec)
	if err != nil {
		return store.Job{}, nil, false, err
	}
	j, created, err := s.db.PutJob(ctx, store.Job{Name: d.Metadata.Name, Spec: spec, Schedule: d.Spec.Schedule, NextRunAt: NextRun(d.Spec.Schedule, time.Now())})
	if err != nil {
		return store.Job{}, nil, false, err
	}
	if d.Spec.Schedule != "" {
		return j, nil, created, nil
	}
	run, err := s.Start(ctx, j.Name)
	if err != nil {
		return j, nil, created, err
	}
	return j, &run, created, nil
}

// checkRoots refuses inputs and outputs outside Options.Roots.
func (s *Service) checkRoots(sp Spec) error {
	if len(s.opts.Roots) == 0 {
		return nil
	}
	for _, f := range []struct{ field, path string }{{"spec.input", sp.Input}, {"spec.output", sp.Output}} {
		if !filepath.IsAbs(f.path) {
			return fmt.Errorf("%w: %s: %q must be an absolute path", ErrInvalid, f.field, f.path)
		}
		p := filepath.Clean(f.path)
		// Resolve links in the part that exists, so a link cannot lead
		// out of a root.
		for dir := p; ; dir = filepath.Dir(dir) {
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				rest, _ := filepath.Rel(dir, p)
				p = filepath.Join(real, rest)
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
		ok := false
		for _, root := range s.opts.Roots {
			if r, err := filepath.EvalSymlinks(root); err == nil {
				root = r
			}
			if rel, err := filepath.Rel(root, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%w: %s: %q is outside the directories this server lets jobs use (%s; --job-roots)", ErrInvalid, f.field, f.path, strings.Join(s.opts.Roots, ", "))
		}
	}
	return nil
}

// Start creates a run of a job now.
func (s *Service) Start(ctx context.Context, name string) (store.JobRun, error) {
	j, err := s.db.GetJob(ctx, name)
	if err != nil {
		return store.JobRun{}, err
	}
	nr, err := s.plan(ctx, j)
	if err != nil {
		return store.JobRun{}, err
	}
	return s.db.CreateRun(ctx, name, nr)
}

// Decode decodes a stored job's spec and fills its defaults.
func Decode(raw json.RawMessage) (Spec, error) {
	var sp Spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return Spec{}, fmt.Errorf("decoding job spec: %w", err)
	}
	sp.Defaults()
	return sp, nil
}

// plan resolves a job's model and splits its input.
func (s *Service) plan(ctx context.Context, j store.Job) (store.NewRun, error) {
	sp, err := Decode(j.Spec)
	if err != nil {
		return store.NewRun{}, err
	}
	if err := s.checkRoots(sp); err != nil {
		return store.NewRun{}, err
	}
	model, version, err := s.resolve(ctx, sp)
	if err != nil {
		return store.NewRun{}, err
	}
	rs, err := batch.Split(ctx, s.opts.FS, sp.Input, sp.InputFormat, sp.Shards)
	if err != nil {
		return store.NewRun{}, fmt.Errorf("planning job %s: %w", j.Name, err)
	}
	nr := store.NewRun{Model: model, Version: version}
	for _, r := range rs {
		nr.Ranges = append(nr.Ranges, [2]int64{r.Start, r.End})
	}
	return nr, nil
}

// resolve turns spec.model or spec.endpoint into a model version.
func (s *Service) resolve(ctx context.Context, sp Spec) (string, int, error) {
	if sp.Endpoint != "" {
		ep, err := s.reg.GetEndpoint(ctx, sp.Endpoint)
		if err != nil {
			return "", 0, fmt.Errorf("spec.endpoint: %w", err)
		}
		if ep.ServingVersion == 0 {
			return "", 0, fmt.Errorf("%w: spec.endpoint: %s serves no version: %s", ErrInvalid, sp.Endpoint, ep.Error)
		}
		return ep.Spec.Model, ep.ServingVersion, nil
	}
	name, ref, ok := strings.Cut(sp.Model, "@")
	if !ok {
		ref = "latest"
	}
	v, err := s.db.ResolveVersion(ctx, name, ref)
	if err != nil {
		return "", 0, fmt.Errorf("spec.model: %w", err)
	}
	return v.Model, v.Version, nil
}

// Cancel cancels a job's runs in progress.
func (s *Service) Cancel(ctx context.Context, name string) ([]string, error) {
	return s.db.CancelRuns(ctx, name)
}

// Run works until ctx ends: it starts due scheduled runs and scores
// shards, one at a time (each shard uses every core).
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("job worker running", "worker", s.opts.WorkerID, "lease", s.opts.Lease)
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.schedule(ctx)
		for ctx.Err() == nil {
			worked, err := s.workOne(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("job worker", "err", err)
				break
			}
			if !worked {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// schedule starts the runs of scheduled jobs that are due. Several nodes
// may try; the store lets one win.
func (s *Service) schedule(ctx context.Context) {
	now := time.Now()
	due, err := s.db.DueJobs(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("listing due jobs", "err", err)
		}
		return
	}
	for _, j := range due {
		nr, err := s.plan(ctx, j)
		next := NextRun(j.Schedule, now)
		if err != nil {
			// Skip this firing, say why, and try at the next one.
			s.log.Error("scheduled job cannot start", "job", j.Name, "err", err)
			nr = store.NewRun{Failed: err.Error()}
		}
		nr.Scheduled, nr.IfNextRunAt, nr.NextRunAt = true, j.NextRunAt, next
		run, err := s.db.CreateRun(ctx, j.Name, nr)
		switch {
		case errors.Is(err, store.ErrConflict):
		case err != nil:
			s.log.Error("starting scheduled run", "job", j.Name, "err", err)
		default:
			s.log.Info("started scheduled run", "job", j.Name, "run", run.ID, "status", run.Status, "next", next)
		}
	}
}

// workOne claims and scores one shard; worked is false when there was none.
func (s *Service) workOne(ctx context.Context) (bool, error) {
	sh, run, ok, err := s.db.ClaimShard(ctx, s.opts.WorkerID, s.opts.Lease)
	if err != nil || !ok {
		return false, err
	}
	log := s.log.With("run", run.ID, "shard", sh.Index, "attempt", sh.Attempt)
	log.Info("scoring shard")
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(s.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if err := s.db.Heartbeat(sctx, sh, s.opts.Lease); err != nil {
					if errors.Is(err, store.ErrLeaseLost) {
						cancel(err)
						return
					}
					log.Warn("heartbeat failed", "err", err)
				}
			}
		}
	}()
	res := s.scoreShard(sctx, log, sh, run)
	cancel(nil)
	<-hbDone
	if ctx.Err() != nil {
		// Shutting down: the lease runs out and another worker (or this
		// one, restarted) takes the shard.
		return false, nil
	}
	if cause := context.Cause(sctx); errors.Is(cause, store.ErrLeaseLost) {
		log.Warn("lost the shard's lease; another worker has it")
		return true, nil
	}
	finished, err := s.db.CompleteShard(ctx, sh, res, s.summary(run))
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("shard finished after its lease was taken over; the other attempt's result stands")
		return true, nil
	}
	if err != nil {
		return true, err
	}
	log.Info("shard done", "rows_in", res.RowsIn, "rejected", res.Rejected, "error", res.Error, "run_finished", finished)
	if finished {
		s.cleanAttempts(run)
	}
	return true, nil
}

// cleanAttempts removes the hidden attempt files dead workers left in a
// finished run's output directory. A worker still writing one (a stalled
// worker whose lease was taken over) loses it, and its completion is
// refused anyway.
func (s *Service) cleanAttempts(run store.JobRun) {
	sp, err := Decode(run.Spec)
	if err != nil {
		return
	}
	dir := filepath.Join(sp.Output, run.ID)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".part-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// scoreShard scores one shard into its part file. Failures are returned
// in the result (they fail the run), except a lost lease or shutdown.
func (s *Service) scoreShard(ctx context.Context, log *slog.Logger, sh store.Shard, run store.JobRun) store.ShardResult {
	fail := func(err error) store.ShardResult { return store.ShardResult{Error: err.Error()} }
	sp, err := Decode(run.Spec)
	if err != nil {
		return fail(err)
	}
	b, err := s.reg.PinnedBackend(ctx, run.Model, run.Version)
	if err != nil {
		return fail(fmt.Errorf("loading %s@%d: %w", run.Model, run.Version, err))
	}
	dir := filepath.Join(sp.Output, run.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("output directory: %w", err))
	}
	ext := sp.OutputFormat
	tmp := filepath.Join(dir, attemptName(sh.Index, sh.Attempt, ext))
	final := filepath.Join(dir, partName(sh.Index, ext))
	// A previous process of this worker may have left this attempt's files.
	for _, p := range []string{tmp, tmp + ".checkpoint", tmp + ".partial", tmp + ".spool", tmp + ".rejects.csv"} {
		_ = os.Remove(p)
	}
	var mon *DriftMonitor
	base, berr := s.baseline(ctx, run.Model, run.Version)
	if berr == nil && base != nil {
		mon, berr = NewDriftMonitor(base, b.Runtime)
	}
	spec := batch.Spec{
		Input: sp.Input, InputFormat: sp.InputFormat, Output: tmp, OutputFormat: ext,
		IDColumn: sp.IDColumn, Keep: sp.KeepColumns, ChunkRows: sp.ChunkRows,
		MaxRejectRate: *sp.MaxRejectRate, Range: batch.Range{Start: sh.Start, End: sh.End},
		Model: batch.ModelRef{Name: run.Model, Version: run.Version},
	}
	opts := batch.Options{Model: b.Runtime, FS: s.opts.FS, Logger: log}
	if mon != nil {
		opts.Observe = mon.Observe
	}
	res, err := batch.Run(ctx, spec, opts)
	if err != nil {
		if ctx.Err() != nil {
			return store.ShardResult{}
		}
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(fmt.Errorf("moving the shard's output into place: %w", err))
	}
	if res.Rejects != "" {
		if err := os.Rename(res.Rejects, filepath.Join(dir, strings.TrimSuffix(partName(sh.Index, ext), "."+ext)+".rejects.csv")); err != nil {
			return fail(fmt.Errorf("moving the shard's rejects into place: %w", err))
		}
	}
	out := store.ShardResult{RowsIn: res.RowsIn, RowsOut: res.RowsOut, Rejected: res.Rejected, Output: final}
	switch {
	case berr != nil:
		out.Drift, _ = json.Marshal(DriftSummary{Message: "drift not computed: " + berr.Error()})
	case mon != nil:
		out.Drift, _ = json.Marshal(mon.Summary())
	}
	return out
}

func (s *Service) baseline(ctx context.Context, model string, version int) (*drift.Baseline, error) {
	if s.opts.Baselines == nil {
		return nil, nil
	}
	return s.opts.Baselines.Baseline(ctx, model, version)
}
