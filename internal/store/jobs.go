package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Job is a stored batch job: its spec (JSON the jobs package owns) and its
// schedule.
type Job struct {
	Name string
	Spec json.RawMessage
	// Schedule is a cron expression; "" for a job run on demand.
	Schedule string
	// NextRunAt is when the scheduler starts the next run; zero when none
	// is due.
	NextRunAt time.Time
	// Runs is the number of runs created so far.
	Runs      int64
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string
}

// Run statuses.
const (
	RunPending   = "pending"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Shard statuses.
const (
	ShardPending   = "pending"
	ShardRunning   = "running"
	ShardDone      = "done"
	ShardFailed    = "failed"
	ShardCancelled = "cancelled"
)

// JobRun is one execution of a job.
type JobRun struct {
	// ID is JOB-SEQ, e.g. "nightly-7".
	ID  string
	Job string
	Seq int64
	// Status is pending, running, succeeded, failed or cancelled.
	Status string
	// Spec is the job's spec when the run was created.
	Spec json.RawMessage
	// Model and Version are the model version the run scores with,
	// resolved when it was created.
	Model   string
	Version int
	Shards  int
	// RowsIn, RowsOut and Rejected are summed over the shards.
	RowsIn, RowsOut, Rejected int64
	// Drift is the input drift report (JSON), or why there is none.
	Drift json.RawMessage
	Error string
	// CreatedAt, StartedAt (first shard claimed) and FinishedAt.
	CreatedAt, StartedAt, FinishedAt time.Time
	CreatedBy                        string
}

// Shard is one part of a run's input.
type Shard struct {
	Run   string
	Index int
	// Start and End delimit the shard's input (bytes or rows).
	Start, End int64
	Status     string
	// Worker holds the shard while running; Attempt counts claims and
	// fences a worker whose lease was taken over.
	Worker     string
	Attempt    int
	LeaseUntil time.Time
	RowsIn     int64
	RowsOut    int64
	Rejected   int64
	Output     string
	Drift      json.RawMessage
	Error      string
	UpdatedAt  time.Time
}

// JobEvent is a line of a run's log.
type JobEvent struct {
	Run     string    `json:"run"`
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

const jobColumns = `name, spec, schedule, next_run_at, runs, created_at, updated_at, created_by`

func scanJob(s scanner) (Job, error) {
	var j Job
	var spec string
	var next, created, updated int64
	if err := s.Scan(&j.Name, &spec, &j.Schedule, &next, &j.Runs, &created, &updated, &j.CreatedBy); err != nil {
		return Job{}, err
	}
	j.Spec = json.RawMessage(spec)
	if next > 0 {
		j.NextRunAt = fromNanos(next)
	}
	j.CreatedAt, j.UpdatedAt = fromNanos(created), fromNanos(updated)
	return j, nil
}

func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return fromNanos(ns)
}

// PutJob creates a job or replaces its spec and schedule, and returns it
// with created reporting which.
func (db *DB) PutJob(ctx context.Context, j Job) (Job, bool, error) {
	if err := ValidateName("job name", j.Name); err != nil {
		return Job{}, false, err
	}
	if err := validateJSON("job spec", j.Spec, true); err != nil {
		return Job{}, false, err
	}
	created := false
	ts, at := db.timestamp()
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getJob(ctx, r, j.Name, true)
		switch {
		case errors.Is(err, ErrNotFound):
			created = true
			j.CreatedAt, j.UpdatedAt, j.CreatedBy, j.Runs = at, at, audit.Actor(ctx), 0
			if _, err := r.exec(ctx, `INSERT INTO jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				j.Name, string(j.Spec), j.Schedule, nanosOrZero(j.NextRunAt), 0, ts, ts, j.CreatedBy); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("job %q: %w", j.Name, ErrConflict)
				}
				return err
			}
			return db.audit(ctx, r, audit.Change{Action: "job.create", Object: "job/" + j.Name, After: j.Spec, At: at})
		case err != nil:
			return err
		}
		j.CreatedAt, j.CreatedBy, j.Runs, j.UpdatedAt = cur.CreatedAt, cur.CreatedBy, cur.Runs, at
		if _, err := r.exec(ctx, `UPDATE jobs SET spec = ?, schedule = ?, next_run_at = ?, updated_at = ? WHERE name = ?`,
			string(j.Spec), j.Schedule, nanosOrZero(j.NextRunAt), ts, j.Name); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "job.update", Object: "job/" + j.Name, Before: cur.Spec, After: j.Spec, At: at})
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("storing job %q: %w", j.Name, err)
	}
	j.Spec = clone(j.Spec)
	return j, created, nil
}

// GetJob returns one job.
func (db *DB) GetJob(ctx context.Context, name string) (Job, error) {
	if err := ValidateName("job name", name); err != nil {
		return Job{}, err
	}
	return getJob(ctx, db.r(), name, false)
}

func getJob(ctx context.Context, r runner, name string, lock bool) (Job, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE name = ?`
	if lock {
		q += r.forUpdate()
	}
	j, err := scanJob(r.queryRow(ctx, q, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %q: %w", name, err)
	}
	return j, nil
}

// ListJobs returns every job, by name.
func (db *DB) ListJobs(ctx context.Context) ([]Job, error) {
	return queryAll(ctx, db.r(), "jobs", scanJob, `SELECT `+jobColumns+` FROM jobs ORDER BY name`)
}

// DueJobs returns the scheduled jobs whose next run is due at now.
func (db *DB) DueJobs(ctx context.Context, now time.Time) ([]Job, error) {
	rows, err := db.r().query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE next_run_at > 0 AND next_run_at <= ? ORDER BY next_run_at`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("listing due jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// DeleteJob removes a job, its runs, shards and events. A job with an
// active run is ErrConflict: cancel it first.
func (db *DB) DeleteJob(ctx context.Context, name string) error {
	if err := ValidateName("job name", name); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getJob(ctx, r, name, true)
		if err != nil {
			return err
		}
		var active int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM job_runs WHERE job = ? AND status IN ('pending', 'running')`, name).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return fmt.Errorf("job %q has a run in progress; cancel it first: %w", name, ErrConflict)
		}
		for _, q := range []string{
			`DELETE FROM job_events WHERE run IN (SELECT id FROM job_runs WHERE job = ?)`,
			`DELETE FROM job_shards WHERE run IN (SELECT id FROM job_runs WHERE job = ?)`,
			`DELETE FROM job_runs WHERE job = ?`,
			`DELETE FROM jobs WHERE name = ?`,
		} {
			if _, err := r.exec(ctx, q, name); err != nil {
				return err
			}
		}
		return db.audit(ctx, r, audit.Change{Action: "job.delete", Object: "job/" + name, Before: cur.Spec})
	})
	if err != nil {
		return fmt.Errorf("deleting job %q: %w", name, err)
	}
	return nil
}

// NewRun is a run to create: the model version it uses and its shards'
// ranges.
type NewRun struct {
	Model   string
	Version int
	// Ranges are the shards' [start, end) input ranges.
	Ranges [][2]int64
	// Scheduled, when true, makes the run only if the job's NextRunAt is
	// still IfNextRunAt (another node has not started it), and moves
	// NextRunAt to NextRunAt.
	Scheduled   bool
	IfNextRunAt time.Time
	NextRunAt   time.Time
	// Message is the run's first log line.
	Message string
	// Failed, when set, records a run that could not start (a scheduled
	// run whose model or input is gone): it is created failed, with this
	// error and no shards.
	Failed string
}

// CreateRun creates a job's next run with its shards, pending. A scheduled
// run that another node already created is ErrConflict.
func (db *DB) CreateRun(ctx context.Context, job string, nr NewRun) (JobRun, error) {
	if err := ValidateName("job name", job); err != nil {
		return JobRun{}, err
	}
	if (len(nr.Ranges) == 0 && nr.Failed == "") || len(nr.Ranges) > 10000 {
		return JobRun{}, fmt.Errorf("%w: shards: %d is not between 1 and 10000", ErrInvalid, len(nr.Ranges))
	}
	var run JobRun
	err := db.inTx(ctx, func(r runner) error {
		j, err := getJob(ctx, r, job, true)
		if err != nil {
			return err
		}
		if nr.Scheduled {
			if !j.NextRunAt.Equal(nr.IfNextRunAt) {
				return fmt.Errorf("job %q: the scheduled run was already started: %w", job, ErrConflict)
			}
			if _, err := r.exec(ctx, `UPDATE jobs SET next_run_at = ? WHERE name = ?`, nanosOrZero(nr.NextRunAt), job); err != nil {
				return err
			}
		}
		ts, at := db.timestamp()
		seq := j.Runs + 1
		run = JobRun{ID: job + "-" + strconv.FormatInt(seq, 10), Job: job, Seq: seq, Status: RunPending, Spec: clone(j.Spec),
			Model: nr.Model, Version: nr.Version, Shards: len(nr.Ranges), CreatedAt: at, CreatedBy: audit.Actor(ctx)}
		var finished int64
		if nr.Failed != "" {
			run.Status, run.Error, run.FinishedAt, finished = RunFailed, nr.Failed, at, ts
		}
		if _, err := r.exec(ctx, `UPDATE jobs SET runs = ? WHERE name = ?`, seq, job); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO job_runs (id, job, seq, status, spec, model, version, shards, error, created_at, finished_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, run.ID, job, seq, run.Status, string(run.Spec), run.Model, run.Version, run.Shards, run.Error, ts, finished, run.CreatedBy); err != nil {
			return err
		}
		for i, rg := range nr.Ranges {
			if _, err := r.exec(ctx, `INSERT INTO job_shards (run, shard, range_start, range_end, status, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				run.ID, i, rg[0], rg[1], ShardPending, ts); err != nil {
				return err
			}
		}
		msg := nr.Message
		if nr.Failed != "" {
			msg = "run could not start: " + nr.Failed
		} else if msg == "" {
			msg = fmt.Sprintf("run created: %d shard(s), model %s@%d", len(nr.Ranges), nr.Model, nr.Version)
		}
		if err := appendJobEvent(ctx, r, run.ID, ts, msg); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "job.run", Object: "job/" + job + "/" + run.ID,
			After: map[string]any{"model": nr.Model, "version": nr.Version, "shards": len(nr.Ranges), "scheduled": nr.Scheduled, "error": nr.Failed}, At: at})
	})
	if err != nil {
		return JobRun{}, fmt.Errorf("creating a run of job %q: %w", job, err)
	}
	return run, nil
}

func appendJobEvent(ctx context.Context, r runner, run string, ts int64, msg string) error {
	var seq int64
	if err := r.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE run = ?`, run).Scan(&seq); err != nil {
		return err
	}
	_, err := r.exec(ctx, `INSERT INTO job_events (run, seq, at, message) VALUES (?, ?, ?, ?)`, run, seq+1, ts, msg)
	return err
}

const runColumns = `id, job, seq, status, spec, model, version, shards, rows_in, rows_out, rejected, drift, error, created_at, started_at, finished_at, created_by`

func scanRun(s scanner) (JobRun, error) {
	var jr JobRun
	var spec, drift string
	var created, started, finished int64
	if err := s.Scan(&jr.ID, &jr.Job, &jr.Seq, &jr.Status, &spec, &jr.Model, &jr.Version, &jr.Shards, &jr.RowsIn, &jr.RowsOut, &jr.Rejected,
		&drift, &jr.Error, &created, &started, &finished, &jr.CreatedBy); err != nil {
		return JobRun{}, err
	}
	jr.Spec = json.RawMessage(spec)
	if drift != "" {
		jr.Drift = json.RawMessage(drift)
	}
	jr.CreatedAt, jr.StartedAt, jr.FinishedAt = fromNanos(created), timeOrZero(started), timeOrZero(finished)
	return jr, nil
}

// GetRun returns a run and its shards.
func (db *DB) GetRun(ctx context.Context, id string) (JobRun, []Shard, error) {
	return getRun(ctx, db.r(), id, false)
}

func getRun(ctx context.Context, r runner, id string, lock bool) (JobRun, []Shard, error) {
	q := `SELECT ` + runColumns + ` FROM job_runs WHERE id = ?`
	if lock {
		q += r.forUpdate()
	}
	jr, err := scanRun(r.queryRow(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return JobRun{}, nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return JobRun{}, nil, fmt.Errorf("run %q: %w", id, err)
	}
	rows, err := r.query(ctx, `SELECT `+shardColumns+` FROM job_shards WHERE run = ? ORDER BY shard`, id)
	if err != nil {
		return JobRun{}, nil, err
	}
	defer rows.Close()
	var shards []Shard
	for rows.Next() {
		s, err := scanShard(rows)
		if err != nil {
			return JobRun{}, nil, err
		}
		shards = append(shards, s)
	}
	return jr, shards, rows.Err()
}

// ListRuns returns a job's runs, newest first, at most limit (0: all).
func (db *DB) ListRuns(ctx context.Context, job string, limit int) ([]JobRun, error) {
	q := `SELECT ` + runColumns + ` FROM job_runs WHERE job = ? ORDER BY seq DESC`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := db.r().query(ctx, q, job)
	if err != nil {
		return nil, fmt.Errorf("listing runs of %q: %w", job, err)
	}
	defer rows.Close()
	var out []JobRun
	for rows.Next() {
		jr, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, jr)
	}
	return out, rows.Err()
}

// JobEvents returns a run's log lines with Seq > after.
func (db *DB) JobEvents(ctx context.Context, run string, after int64) ([]JobEvent, error) {
	rows, err := db.r().query(ctx, `SELECT run, seq, at, message FROM job_events WHERE run = ? AND seq > ? ORDER BY seq`, run, after)
	if err != nil {
		return nil, fmt.Errorf("reading the log of run %q: %w", run, err)
	}
	defer rows.Close()
	var out []JobEvent
	for rows.Next() {
		var e JobEvent
		var at int64
		if err := rows.Scan(&e.Run, &e.Seq, &at, &e.Message); err != nil {
			return nil, err
		}
		e.At = fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
