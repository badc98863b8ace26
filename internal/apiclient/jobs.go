package apiclient

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/jobs"
)

// Job is a batch job as the API shows it.
type Job struct {
	Name      string    `json:"name"`
	Spec      jobs.Spec `json:"spec"`
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	Runs      int64     `json:"runs"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// LastRun is the newest run, in lists.
	LastRun *JobRun `json:"last_run,omitempty"`
}

// JobRun is one run of a job.
type JobRun struct {
	ID       string `json:"id"`
	Job      string `json:"job"`
	Status   string `json:"status"`
	Model    string `json:"model"`
	Version  int    `json:"version"`
	Shards   int    `json:"shards"`
	RowsIn   int64  `json:"rows_in"`
	RowsOut  int64  `json:"rows_out"`
	Rejected int64  `json:"rejected"`
	// Drift is the input drift against the version's baseline, or why
	// there is none (jobs.DriftSummary).
	Drift      json.RawMessage `json:"drift,omitempty"`
	Error      string          `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	// DurationSeconds is FinishedAt - StartedAt once finished.
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// ShardList is filled when one run is shown.
	ShardList []JobShard `json:"shard_list,omitempty"`
}

// JobShard is one shard of a run.
type JobShard struct {
	Index    int       `json:"index"`
	Start    int64     `json:"start"`
	End      int64     `json:"end"`
	Status   string    `json:"status"`
	Worker   string    `json:"worker,omitempty"`
	Attempt  int       `json:"attempt"`
	RowsIn   int64     `json:"rows_in"`
	RowsOut  int64     `json:"rows_out"`
	Rejected int64     `json:"rejected"`
	Output   string    `json:"output,omitempty"`
	Error    string    `json:"error,omitempty"`
	Updated  time.Time `json:"updated_at"`
}

// JobDetail is GET /api/v1/jobs/{name}: the job and its latest runs.
type JobDetail struct {
	Job  Job      `json:"job"`
	Runs []JobRun `json:"runs"`
}

// SubmitJobResult is the answer to POST /api/v1/jobs.
type SubmitJobResult struct {
	Job     Job     `json:"job"`
	Created bool    `json:"created"`
	Run     *JobRun `json:"run,omitempty"`
}

// JobEvent is a line of a run's log.
type JobEvent struct {
	Run     string    `json:"run"`
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// SubmitJob creates or replaces a job; one without a schedule starts at once.
func (c *Client) SubmitJob(ctx context.Context, doc jobs.Document) (SubmitJobResult, error) {
	var out SubmitJobResult
	err := c.do(ctx, "POST", "/api/v1/jobs", doc, &out)
	return out, err
}

// ListJobs returns every job with its latest run.
func (c *Client) ListJobs(ctx context.Context) ([]Job, error) {
	var out []Job
	err := c.do(ctx, "GET", "/api/v1/jobs", nil, &out)
	return out, err
}

// GetJob returns a job and its latest runs.
func (c *Client) GetJob(ctx context.Context, name string) (JobDetail, error) {
	var out JobDetail
	err := c.do(ctx, "GET", "/api/v1/jobs/"+esc(name), nil, &out)
	return out, err
}

// GetJobRun returns one run with its shards.
func (c *Client) GetJobRun(ctx context.Context, name, run string) (JobRun, error) {
	var out JobRun
	err := c.do(ctx, "GET", "/api/v1/jobs/"+esc(name)+"/runs/"+esc(run), nil, &out)
	return out, err
}

// StartJob starts a run of a job now.
func (c *Client) StartJob(ctx context.Context, name string) (JobRun, error) {
	var out JobRun
	err := c.do(ctx, "POST", "/api/v1/jobs/"+esc(name)+"/runs", nil, &out)
	return out, err
}

// CancelJob cancels a job's runs in progress and returns their ids.
func (c *Client) CancelJob(ctx context.Context, name string) ([]string, error) {
	var out struct {
		Cancelled []string `json:"cancelled"`
	}
	err := c.do(ctx, "POST", "/api/v1/jobs/"+esc(name)+"/cancel", nil, &out)
	return out.Cancelled, err
}

// DeleteJob deletes a job and its runs' records (not their output).
func (c *Client) DeleteJob(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/jobs/"+esc(name), nil, nil)
}

// JobLogs returns a run's log (the latest run when run is "").
func (c *Client) JobLogs(ctx context.Context, name, run string) ([]JobEvent, error) {
	var out []JobEvent
	q := ""
	if run != "" {
		q = "?run=" + url.QueryEscape(run)
	}
	err := c.do(ctx, "GET", "/api/v1/jobs/"+esc(name)+"/logs"+q, nil, &out)
	return out, err
}
