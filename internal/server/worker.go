package server

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/version"
)

// runWorker runs a `--role worker` process: the batch job worker alone. It
// claims shards from the shared store, loads model versions from it (their
// artifacts come from the store on PostgreSQL) and serves no requests.
// SIGTERM stops it between shards' chunks; a shard it held is claimed
// again by another worker once its lease runs out.
func runWorker(ctx context.Context, cfg Config, db *store.DB, blobs *artifact.Store) error {
	log := cfg.Logger
	reg := registry.New(db, blobs, Formats(cfg.ONNXRuntimeLib, log), registry.Options{Logger: log, MaxArtifactBytes: cfg.MaxArtifactBytes, ModelMemory: cfg.ModelMemory})
	svc := jobs.New(reg, jobs.Options{WorkerID: cfg.WorkerID, Lease: cfg.JobLease, Roots: cfg.JobRoots, Logger: log})
	log.Info("sluice worker running", "role", cfg.Role, "store", db.Dialect(), "data_dir", cfg.DataDir, "version", version.String())
	start := time.Now()
	err := svc.Run(ctx)
	log.Info("sluice worker stopped", "uptime", time.Since(start).Round(time.Second))
	return err
}
