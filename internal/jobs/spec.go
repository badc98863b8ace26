// Package jobs runs batch scoring jobs on the server: one-off or on a cron
// schedule, split into shards that any number of `sluice server --role
// worker` processes claim from the shared store.
//
// A run is planned when it starts: the model reference is resolved to one
// version (every shard scores with it, even if an alias moves meanwhile),
// and the input is split into shards (byte ranges of a text file aligned to
// record boundaries by the reader, row ranges of a Parquet file). Workers
// claim shards with a lease they renew while they score; a worker that dies
// stops renewing, and after the lease runs out another worker claims the
// shard again (its attempt number grows, which fences the old worker: its
// late completion is refused).
//
// Each shard's output is written exactly once. A worker scores into a file
// of its own attempt, renames it to the shard's part file
// (OUTPUT/RUN/part-NNNNN.EXT) and only then records the shard done. A
// worker that dies between the rename and the record leaves a complete part
// file that the next attempt replaces with identical content; a worker
// that dies earlier leaves only its attempt's file, which is never read.
package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/batch"
)

// APIVersion and Kind of a job document.
const (
	APIVersion = "sluice.dev/v1"
	Kind       = "Job"
)

// Document is a job as a declarative file:
//
//	apiVersion: sluice.dev/v1
//	kind: Job
//	metadata: {name: nightly-fraud}
//	spec:
//	  model: fraud@production
//	  input: /data/transactions.parquet
//	  output: /data/scores
//	  idColumn: transaction_id
//	  shards: 4
//	  schedule: "0 2 * * *"
type Document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names a job.
type Metadata struct {
	Name string `json:"name"`
}

// Spec is what a job does.
type Spec struct {
	// Model is NAME@REF (a version number, an alias such as production,
	// or latest); Endpoint, instead, scores with the version the endpoint
	// serves when the run starts. Exactly one is set.
	Model    string `json:"model,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	// Input is a CSV, JSON Lines or Parquet file every worker can read.
	Input       string `json:"input"`
	InputFormat string `json:"inputFormat,omitempty"`
	// Output is a directory; each run writes OUTPUT/RUN-ID/part-NNNNN.EXT
	// (and part-NNNNN.rejects.csv when rows were rejected).
	Output string `json:"output"`
	// OutputFormat is csv, jsonl or parquet (default).
	OutputFormat string `json:"outputFormat,omitempty"`
	// IDColumn and KeepColumns are copied to the output.
	IDColumn    string   `json:"idColumn,omitempty"`
	KeepColumns []string `json:"keepColumns,omitempty"`
	// Shards splits the input for several workers; default 1.
	Shards int `json:"shards,omitempty"`
	// MaxRejectRate fails a shard (and its run) that rejects more than
	// this share of its rows; default 0.05.
	MaxRejectRate *float64 `json:"maxRejectRate,omitempty"`
	// ChunkRows is the rows per chunk inside a shard; default 16384.
	ChunkRows int `json:"chunkRows,omitempty"`
	// Schedule is a cron expression (five fields, or @daily, @every 1h);
	// empty runs the job once, when it is submitted.
	Schedule string `json:"schedule,omitempty"`
}

// ParseDocument reads a YAML or JSON job document strictly: unknown
// fields are errors.
func ParseDocument(data []byte) (Document, error) {
	var d Document
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		return Document{}, fmt.Errorf("job document: %w", err)
	}
	if d.APIVersion != APIVersion {
		return Document{}, fmt.Errorf("apiVersion: %q, want %q", d.APIVersion, APIVersion)
	}
	if d.Kind != Kind {
		return Document{}, fmt.Errorf("kind: %q, want %q", d.Kind, Kind)
	}
	return d, nil
}

// Defaults fills unset fields.
func (s *Spec) Defaults() {
	if s.Shards == 0 {
		s.Shards = 1
	}
	if s.OutputFormat == "" {
		s.OutputFormat = batch.FormatParquet
	}
	if s.MaxRejectRate == nil {
		r := 0.05
		s.MaxRejectRate = &r
	}
	if s.InputFormat == "" {
		if f, err := batch.FormatOf(s.Input, "spec.input"); err == nil {
			s.InputFormat = f
		}
	}
}

// Validate returns every problem in the spec, each naming its field.
func (s *Spec) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case s.Model == "" && s.Endpoint == "":
		add("spec.model: one of spec.model and spec.endpoint is required")
	case s.Model != "" && s.Endpoint != "":
		add("spec.endpoint: give spec.model or spec.endpoint, not both")
	case s.Model != "":
		if name, _, _ := strings.Cut(s.Model, "@"); name == "" {
			add("spec.model: %q: want NAME@VERSION, NAME@ALIAS or NAME", s.Model)
		}
	}
	if s.Input == "" {
		add("spec.input: required")
	} else if s.InputFormat == "" {
		if _, err := batch.FormatOf(s.Input, "spec.input"); err != nil {
			errs = append(errs, err)
		}
	} else if !isFormat(s.InputFormat) {
		add("spec.inputFormat: %q is not one of csv, jsonl, parquet", s.InputFormat)
	}
	if s.Output == "" {
		add("spec.output: required (a directory)")
	}
	if s.OutputFormat != "" && !isFormat(s.OutputFormat) {
		add("spec.outputFormat: %q is not one of csv, jsonl, parquet", s.OutputFormat)
	}
	if s.Shards < 0 || s.Shards > 10000 {
		add("spec.shards: %d is not between 1 and 10000", s.Shards)
	}
	if s.MaxRejectRate != nil && !(*s.MaxRejectRate >= 0 && *s.MaxRejectRate <= 1) {
		add("spec.maxRejectRate: %v is not between 0 and 1", *s.MaxRejectRate)
	}
	if s.ChunkRows < 0 || s.ChunkRows > 1<<22 {
		add("spec.chunkRows: %d is not between 1 and %d", s.ChunkRows, 1<<22)
	}
	for i, k := range s.KeepColumns {
		if k == "" {
			add("spec.keepColumns[%d]: must not be empty", i)
		}
	}
	if s.Schedule != "" {
		if _, err := ParseSchedule(s.Schedule); err != nil {
			add("spec.schedule: %v", err)
		}
	}
	return errors.Join(errs...)
}

func isFormat(f string) bool {
	return f == batch.FormatCSV || f == batch.FormatJSONL || f == batch.FormatParquet
}

// ParseSchedule parses a cron expression: five fields (minute hour
// day-of-month month day-of-week) or a descriptor (@hourly, @daily,
// @every 30m).
func ParseSchedule(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule: %v", expr, err)
	}
	return s, nil
}

// NextRun returns when a schedule next fires after now; zero for none.
func NextRun(expr string, now time.Time) time.Time {
	if expr == "" {
		return time.Time{}
	}
	s, err := ParseSchedule(expr)
	if err != nil {
		return time.Time{}
	}
	return s.Next(now)
}

// partName is the file name of a shard's output.
func partName(shard int, ext string) string {
	return "part-" + fmt.Sprintf("%05d", shard) + "." + ext
}

// attemptName is the file a worker scores a shard into before it renames
// it to partName.
func attemptName(shard, attempt int, ext string) string {
	return ".part-" + fmt.Sprintf("%05d", shard) + ".attempt-" + strconv.Itoa(attempt) + "." + ext
}
