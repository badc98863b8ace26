package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

const shardColumns = `run, shard, range_start, range_end, status, worker, attempt, lease_until, rows_in, rows_out, rejected, output, drift, error, updated_at`

func scanShard(s scanner) (Shard, error) {
	var sh Shard
	var lease, updated int64
	var drift string
	if err := s.Scan(&sh.Run, &sh.Index, &sh.Start, &sh.End, &sh.Status, &sh.Worker, &sh.Attempt, &lease,
		&sh.RowsIn, &sh.RowsOut, &sh.Rejected, &sh.Output, &drift, &sh.Error, &updated); err != nil {
		return Shard{}, err
	}
	sh.LeaseUntil, sh.UpdatedAt = timeOrZero(lease), fromNanos(updated)
	if drift != "" {
		sh.Drift = json.RawMessage(drift)
	}
	return sh, nil
}

// ClaimShard gives worker the next shard to score: a pending one, or a
// running one whose lease has run out (its worker died or stalled). The
// shard is held for lease; Heartbeat renews it. ok is false when there is
// no work. On PostgreSQL, workers skip the rows others are claiming (FOR
// UPDATE SKIP LOCKED), so they never wait on each other; on SQLite, whose
// write transactions run one at a time, the plain transaction does.
func (db *DB) ClaimShard(ctx context.Context, worker string, lease time.Duration) (sh Shard, run JobRun, ok bool, err error) {
	if worker == "" {
		return Shard{}, JobRun{}, false, fmt.Errorf("%w: worker: must not be empty", ErrInvalid)
	}
	// An idle worker polls: look without a write transaction first, so
	// that polling takes no lock (SQLite's write lock in particular).
	var active int
	err = db.r().queryRow(ctx, `SELECT COUNT(*) FROM job_shards WHERE status IN ('pending', 'running')`).Scan(&active)
	if err != nil {
		return Shard{}, JobRun{}, false, fmt.Errorf("claiming a shard: %w", err)
	}
	if active == 0 {
		return Shard{}, JobRun{}, false, nil
	}
	err = db.inTx(ctx, func(r runner) error {
		ts, at := db.timestamp()
		q := `SELECT ` + shardColumns + ` FROM job_shards
			WHERE (status = 'pending' OR (status = 'running' AND lease_until < ?))
			  AND run IN (SELECT id FROM job_runs WHERE status IN ('pending', 'running'))
			ORDER BY updated_at, run, shard LIMIT 1`
		if r.pg {
			q += ` FOR UPDATE OF job_shards SKIP LOCKED` // not the runs the subquery reads
		}
		cur, err := scanShard(r.queryRow(ctx, q, ts))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("finding a shard: %w", err)
		}
		jr, _, err := getRun(ctx, r, cur.Run, true)
		if err != nil {
			return err
		}
		if jr.Status != RunPending && jr.Status != RunRunning {
			return nil // cancelled while we looked
		}
		until := ts + int64(lease)
		if _, err := r.exec(ctx, `UPDATE job_shards SET status = 'running', worker = ?, attempt = attempt + 1, lease_until = ?, updated_at = ? WHERE run = ? AND shard = ?`,
			worker, until, ts, cur.Run, cur.Index); err != nil {
			return err
		}
		if jr.Status == RunPending {
			if _, err := r.exec(ctx, `UPDATE job_runs SET status = 'running', started_at = ? WHERE id = ?`, ts, jr.ID); err != nil {
				return err
			}
			jr.Status, jr.StartedAt = RunRunning, at
		}
		msg := fmt.Sprintf("shard %d claimed by %s (attempt %d)", cur.Index, worker, cur.Attempt+1)
		if cur.Status == ShardRunning {
			msg = fmt.Sprintf("shard %d claimed by %s (attempt %d): the lease of %s ran out", cur.Index, worker, cur.Attempt+1, cur.Worker)
		}
		if err := appendJobEvent(ctx, r, jr.ID, ts, msg); err != nil {
			return err
		}
		sh, run, ok = cur, jr, true
		sh.Status, sh.Worker, sh.Attempt, sh.LeaseUntil, sh.UpdatedAt = ShardRunning, worker, cur.Attempt+1, fromNanos(until), at
		return db.audit(ctx, r, audit.Change{Action: "job.shard.claim", Object: "job/" + jr.Job + "/" + jr.ID + "/" + fmt.Sprint(cur.Index),
			After: map[string]any{"worker": worker, "attempt": sh.Attempt}, At: at})
	})
	if err != nil {
		return Shard{}, JobRun{}, false, fmt.Errorf("claiming a shard: %w", err)
	}
	return sh, run, ok, nil
}

// ErrLeaseLost marks a worker that no longer holds its shard: the lease
// ran out and another worker claimed it, or the run was cancelled.
var ErrLeaseLost = errors.New("shard lease lost")

// Heartbeat renews a worker's lease on a shard. It is ErrLeaseLost when
// the worker (at this attempt) no longer holds the shard. Leases are
// bookkeeping, not changes, and are not audited.
func (db *DB) Heartbeat(ctx context.Context, sh Shard, lease time.Duration) error {
	ts, _ := db.timestamp()
	res, err := db.r().exec(ctx, `UPDATE job_shards SET lease_until = ? WHERE run = ? AND shard = ? AND worker = ? AND attempt = ? AND status = 'running'`,
		ts+int64(lease), sh.Run, sh.Index, sh.Worker, sh.Attempt)
	if err != nil {
		return fmt.Errorf("renewing the lease of %s shard %d: %w", sh.Run, sh.Index, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s shard %d: %w", sh.Run, sh.Index, ErrLeaseLost)
	}
	return nil
}

// ShardResult is what a worker reports for a finished shard.
type ShardResult struct {
	RowsIn, RowsOut, Rejected int64
	Output                    string
	Drift                     json.RawMessage
	// Error, when set, fails the shard and its run.
	Error string
}

// RunSummary is filled in when a shard completes its run.
type RunSummary func(shards []Shard) (drift json.RawMessage)

// CompleteShard records a shard's result, if the worker (at this attempt)
// still holds it; otherwise it is ErrLeaseLost and nothing is written.
// When it was the run's last shard the run is finished in the same
// transaction: succeeded with the shards' totals, or failed; summary, if
// set, computes the run's drift from its shards. finished reports it.
func (db *DB) CompleteShard(ctx context.Context, sh Shard, res ShardResult, summary RunSummary) (finished bool, err error) {
	if res.Drift != nil {
		if err := validateJSON("shard drift", res.Drift, false); err != nil {
			return false, err
		}
	}
	err = db.inTx(ctx, func(r runner) error {
		ts, at := db.timestamp()
		// Lock the shard before the run, the order ClaimShard takes them
		// in: a claim's FOR UPDATE SKIP LOCKED scan can keep a lock on a
		// row it read as pending and then found claimed (PostgreSQL keeps
		// locks on rows that fail the re-check), so taking the run first
		// here could deadlock with it.
		if _, err := r.exec(ctx, `SELECT 1 FROM job_shards WHERE run = ? AND shard = ?`+r.forUpdate(), sh.Run, sh.Index); err != nil {
			return err
		}
		jr, shards, err := getRun(ctx, r, sh.Run, true)
		if err != nil {
			return err
		}
		var cur *Shard
		for i := range shards {
			if shards[i].Index == sh.Index {
				cur = &shards[i]
			}
		}
		if cur == nil || cur.Status != ShardRunning || cur.Worker != sh.Worker || cur.Attempt != sh.Attempt || jr.Status != RunRunning {
			return fmt.Errorf("%s shard %d: %w", sh.Run, sh.Index, ErrLeaseLost)
		}
		status := ShardDone
		if res.Error != "" {
			status = ShardFailed
		}
		if _, err := r.exec(ctx, `UPDATE job_shards SET status = ?, rows_in = ?, rows_out = ?, rejected = ?, output = ?, drift = ?, error = ?, updated_at = ?, lease_until = 0
			WHERE run = ? AND shard = ?`, status, res.RowsIn, res.RowsOut, res.Rejected, res.Output, string(res.Drift), res.Error, ts, sh.Run, sh.Index); err != nil {
			return err
		}
		cur.Status, cur.RowsIn, cur.RowsOut, cur.Rejected, cur.Output, cur.Drift, cur.Error = status, res.RowsIn, res.RowsOut, res.Rejected, res.Output, res.Drift, res.Error
		msg := fmt.Sprintf("shard %d done by %s: %d rows in, %d out, %d rejected", sh.Index, sh.Worker, res.RowsIn, res.RowsOut, res.Rejected)
		if res.Error != "" {
			msg = fmt.Sprintf("shard %d failed on %s: %s", sh.Index, sh.Worker, res.Error)
		}
		if err := appendJobEvent(ctx, r, jr.ID, ts, msg); err != nil {
			return err
		}
		obj := "job/" + jr.Job + "/" + jr.ID
		if err := db.audit(ctx, r, audit.Change{Action: "job.shard." + status, Object: obj + "/" + fmt.Sprint(sh.Index),
			After: map[string]any{"worker": sh.Worker, "attempt": sh.Attempt, "rows_in": res.RowsIn, "rows_out": res.RowsOut, "rejected": res.Rejected, "error": res.Error}, At: at}); err != nil {
			return err
		}
		if res.Error != "" {
			// One failed shard fails the run; the others stop at their
			// next heartbeat.
			if _, err := r.exec(ctx, `UPDATE job_shards SET status = 'cancelled', updated_at = ? WHERE run = ? AND status IN ('pending', 'running')`, ts, jr.ID); err != nil {
				return err
			}
			finished = true
			return db.finishRun(ctx, r, jr, RunFailed, shards, nil, "shard "+fmt.Sprint(sh.Index)+": "+res.Error, ts, at)
		}
		for _, s := range shards {
			if s.Status != ShardDone {
				return nil
			}
		}
		finished = true
		var drift json.RawMessage
		if summary != nil {
			drift = summary(shards)
		}
		return db.finishRun(ctx, r, jr, RunSucceeded, shards, drift, "", ts, at)
	})
	if err != nil {
		return false, fmt.Errorf("completing %s shard %d: %w", sh.Run, sh.Index, err)
	}
	return finished, nil
}

// finishRun ends a run with its shards' totals.
func (db *DB) finishRun(ctx context.Context, r runner, jr JobRun, status string, shards []Shard, drift json.RawMessage, errMsg string, ts int64, at time.Time) error {
	var in, out, rej int64
	for _, s := range shards {
		in, out, rej = in+s.RowsIn, out+s.RowsOut, rej+s.Rejected
	}
	if _, err := r.exec(ctx, `UPDATE job_runs SET status = ?, rows_in = ?, rows_out = ?, rejected = ?, drift = ?, error = ?, finished_at = ? WHERE id = ?`,
		status, in, out, rej, string(drift), errMsg, ts, jr.ID); err != nil {
		return err
	}
	msg := fmt.Sprintf("run %s: %d rows in, %d out, %d rejected", status, in, out, rej)
	if errMsg != "" {
		msg += ": " + errMsg
	}
	if err := appendJobEvent(ctx, r, jr.ID, ts, msg); err != nil {
		return err
	}
	return db.audit(ctx, r, audit.Change{Action: "job.run." + status, Object: "job/" + jr.Job + "/" + jr.ID,
		After: map[string]any{"rows_in": in, "rows_out": out, "rejected": rej, "model": jr.Model, "version": jr.Version, "error": errMsg}, At: at})
}

// CancelRuns cancels a job's pending and running runs; their workers stop
// at their next heartbeat. It returns the runs cancelled.
func (db *DB) CancelRuns(ctx context.Context, job string) ([]string, error) {
	if err := ValidateName("job name", job); err != nil {
		return nil, err
	}
	var ids []string
	err := db.inTx(ctx, func(r runner) error {
		if _, err := getJob(ctx, r, job, true); err != nil {
			return err
		}
		rows, err := r.query(ctx, `SELECT id FROM job_runs WHERE job = ? AND status IN ('pending', 'running') ORDER BY seq`, job)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ts, at := db.timestamp()
		for _, id := range ids {
			if _, err := r.exec(ctx, `UPDATE job_runs SET status = 'cancelled', finished_at = ?, error = ? WHERE id = ?`, ts, "cancelled by "+audit.Actor(ctx), id); err != nil {
				return err
			}
			if _, err := r.exec(ctx, `UPDATE job_shards SET status = 'cancelled', updated_at = ? WHERE run = ? AND status IN ('pending', 'running')`, ts, id); err != nil {
				return err
			}
			if err := appendJobEvent(ctx, r, id, ts, "run cancelled by "+audit.Actor(ctx)); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return fmt.Errorf("job %q has no run in progress: %w", job, ErrConflict)
		}
		return db.audit(ctx, r, audit.Change{Action: "job.cancel", Object: "job/" + job, After: map[string]any{"runs": ids}, At: at})
	})
	if err != nil {
		return nil, fmt.Errorf("cancelling job %q: %w", job, err)
	}
	return ids, nil
}

// AddJobEvent appends a line to a run's log (a worker's note).
func (db *DB) AddJobEvent(ctx context.Context, run, msg string) error {
	return db.inTx(ctx, func(r runner) error {
		if _, _, err := getRun(ctx, r, run, true); err != nil {
			return err
		}
		ts, _ := db.timestamp()
		return appendJobEvent(ctx, r, run, ts, msg)
	})
}
