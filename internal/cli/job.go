package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/jobs"
)

func newJobCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Batch scoring jobs on the server: one-off or scheduled, split into shards for workers",
		Long: `Jobs score files on the server's workers (every server runs one; ` + "`sluice server --role worker`" + `
runs only a worker). A job's input is split into shards that workers claim from the shared
store; a worker that dies loses its shards to the others after its lease runs out, and
each shard's output is written exactly once, to OUTPUT/RUN-ID/part-NNNNN.EXT.`,
	}
	cmd.AddCommand(newJobSubmitCmd(e), newJobListCmd(e), newJobShowCmd(e), newJobLogsCmd(e), newJobCancelCmd(e), newJobRunCmd(e), newJobDeleteCmd(e))
	return cmd
}

func newJobSubmitCmd(e *env) *cobra.Command {
	var file, keep string
	var rate float64
	var wait bool
	var sp jobs.Spec
	cmd := &cobra.Command{
		Use:   "submit [NAME] (-f job.yaml | --model NAME@REF --input FILE --output DIR ...)",
		Short: "Create or replace a job; without a schedule it runs at once",
		Example: `  sluice job submit nightly --model fraud@production --input /data/tx.parquet --output /data/scores --shards 4 --schedule "0 2 * * *"
  sluice job submit -f job.yaml
  sluice job submit once --endpoint fraud --input /data/tx.csv --output /data/scores --wait
  sluice job submit -f job.yaml -o json   # the job (and its run) as JSON`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc jobs.Document
			if file != "" {
				if err := readSpec(file, &doc); err != nil {
					return err
				}
				if len(args) == 1 && args[0] != doc.Metadata.Name {
					return fmt.Errorf("the name %q differs from the file's metadata.name %q", args[0], doc.Metadata.Name)
				}
			} else {
				if len(args) != 1 {
					return errors.New("name the job (or give -f FILE)")
				}
				if keep != "" {
					for _, k := range strings.Split(keep, ",") {
						sp.KeepColumns = append(sp.KeepColumns, strings.TrimSpace(k))
					}
				}
				if cmd.Flags().Changed("max-reject-rate") {
					sp.MaxRejectRate = &rate
				}
				doc = jobs.Document{APIVersion: jobs.APIVersion, Kind: jobs.Kind, Metadata: jobs.Metadata{Name: args[0]}, Spec: sp}
			}
			for _, p := range []*string{&doc.Spec.Input, &doc.Spec.Output} {
				if *p != "" && !filepath.IsAbs(*p) {
					if abs, err := filepath.Abs(*p); err == nil {
						*p = abs // the server resolves paths from its own directory
					}
				}
			}
			res, err := e.client().SubmitJob(e.ctx, doc)
			if err != nil {
				return err
			}
			if wait && res.Run != nil {
				run, err := waitJobRun(e, res.Job.Name, res.Run.ID)
				if err != nil {
					return err
				}
				res.Run = &run
			}
			err = e.emit(res, func() error {
				verb := "updated"
				if res.Created {
					verb = "created"
				}
				fmt.Fprintf(e.stdout, "job %s %s", res.Job.Name, verb)
				if res.Run != nil {
					fmt.Fprintf(e.stdout, "; run %s %s", res.Run.ID, res.Run.Status)
					if res.Run.Status == "succeeded" || res.Run.Status == "failed" {
						fmt.Fprintf(e.stdout, " (%d rows in, %d out, %d rejected)", res.Run.RowsIn, res.Run.RowsOut, res.Run.Rejected)
					}
				} else if !res.Job.NextRunAt.IsZero() {
					fmt.Fprintf(e.stdout, "; next run at %s", res.Job.NextRunAt.Local().Format(time.RFC3339))
				}
				fmt.Fprintln(e.stdout)
				return nil
			})
			if err != nil {
				return err
			}
			return runFailed(res.Run)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "a kind: Job YAML or JSON file")
	f.StringVar(&sp.Model, "model", "", "model version: NAME@VERSION, NAME@ALIAS or NAME (latest)")
	f.StringVar(&sp.Endpoint, "endpoint", "", "score with the version this endpoint serves when a run starts")
	f.StringVar(&sp.Input, "input", "", "input file (.csv, .jsonl, .parquet), readable by every worker")
	f.StringVar(&sp.Output, "output", "", "output directory; each run writes DIR/RUN-ID/part-NNNNN.EXT")
	f.StringVar(&sp.OutputFormat, "output-format", "", "csv, jsonl or parquet (default)")
	f.StringVar(&sp.IDColumn, "id-column", "", "input column copied to the output first, and to the rejects files")
	f.StringVar(&keep, "keep-columns", "", "more input columns copied to the output, comma-separated")
	f.IntVar(&sp.Shards, "shards", 1, "split the input into this many shards for the workers")
	f.Float64Var(&rate, "max-reject-rate", 0.05, "largest share of a shard's rows (0..1) that may be rejected")
	f.StringVar(&sp.Schedule, "schedule", "", `cron schedule ("0 2 * * *", "@hourly", "@every 30m"); empty: run once now`)
	f.BoolVar(&wait, "wait", false, "wait for the run to finish; fail if it fails")
	printFlag(cmd, e)
	return cmd
}

// runFailed is the error of a failed run, after its output (table or
// JSON) is written: the command exits non-zero either way.
func runFailed(run *apiclient.JobRun) error {
	if run != nil && run.Status == "failed" {
		return fmt.Errorf("run %s failed: %s", run.ID, run.Error)
	}
	return nil
}

// waitJobRun polls a run until it ends.
func waitJobRun(e *env, job, id string) (apiclient.JobRun, error) {
	for {
		run, err := e.client().GetJobRun(e.ctx, job, id)
		if err != nil {
			return run, err
		}
		switch run.Status {
		case "succeeded", "failed", "cancelled":
			return run, nil
		}
		select {
		case <-e.ctx.Done():
			return run, e.ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func newJobListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List jobs with their latest run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := e.client().ListJobs(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(js, func() error { return e.table(jobHeader, jobRows(js)) })
		},
	}
}

// jobHeader and jobRows are the table of `job list` and `get jobs`.
var jobHeader = []string{"NAME", "MODEL", "SCHEDULE", "SHARDS", "LAST RUN", "STATUS", "NEXT RUN"}

func jobRows(js []apiclient.Job) [][]string {
	rows := [][]string{}
	for _, j := range js {
		model := j.Spec.Model
		if model == "" {
			model = "endpoint " + j.Spec.Endpoint
		}
		last, status, next := "-", "-", "-"
		if j.LastRun != nil {
			last, status = j.LastRun.ID, j.LastRun.Status
		}
		if !j.NextRunAt.IsZero() {
			next = j.NextRunAt.Local().Format(time.RFC3339)
		}
		sched := j.Spec.Schedule
		if sched == "" {
			sched = "-"
		}
		rows = append(rows, []string{j.Name, model, sched, fmt.Sprint(j.Spec.Shards), last, status, next})
	}
	return rows
}

func newJobShowCmd(e *env) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "show NAME [--run RUN-ID]",
		Short: "Show a job's runs, or one run with its shards, model version, row counts, duration and drift",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			if runID == "" {
				d, err := c.GetJob(e.ctx, args[0])
				if err != nil {
					return err
				}
				if len(d.Runs) == 0 || e.output == "json" {
					return e.emit(d, func() error {
						fmt.Fprintf(e.stdout, "job %s: no runs yet\n", d.Job.Name)
						return nil
					})
				}
				runID = d.Runs[0].ID
				if e.output != "json" {
					fmt.Fprintf(e.stdout, "job %s: %d run(s); latest:\n", d.Job.Name, d.Job.Runs)
				}
			}
			run, err := c.GetJobRun(e.ctx, args[0], runID)
			if err != nil {
				return err
			}
			return e.emit(run, func() error { return printRun(e, run) })
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "show this run (default: the latest)")
	return cmd
}

func printRun(e *env, run apiclient.JobRun) error {
	w := e.stdout
	fmt.Fprintf(w, "run:       %s\nstatus:    %s\nmodel:     %s@%d\nrows:      %d in, %d out, %d rejected\n", run.ID, run.Status, run.Model, run.Version, run.RowsIn, run.RowsOut, run.Rejected)
	if run.DurationSeconds > 0 {
		fmt.Fprintf(w, "duration:  %s\n", time.Duration(run.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	if run.Error != "" {
		fmt.Fprintf(w, "error:     %s\n", run.Error)
	}
	if len(run.Drift) > 0 {
		var d jobs.DriftSummary
		if json.Unmarshal(run.Drift, &d) == nil {
			switch {
			case !d.Baseline:
				fmt.Fprintf(w, "drift:     %s\n", d.Message)
			case d.Drifted:
				fmt.Fprintf(w, "drift:     DRIFTED (see -o json for each feature)\n")
			default:
				fmt.Fprintf(w, "drift:     none flagged\n")
			}
		}
	}
	rows := [][]string{}
	for _, s := range run.ShardList {
		rows = append(rows, []string{fmt.Sprint(s.Index), s.Status, s.Worker, fmt.Sprint(s.Attempt), fmt.Sprint(s.RowsIn), fmt.Sprint(s.Rejected), s.Output})
	}
	fmt.Fprintln(w)
	return e.table([]string{"SHARD", "STATUS", "WORKER", "ATTEMPT", "ROWS", "REJECTED", "OUTPUT"}, rows)
}

func newJobLogsCmd(e *env) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "logs NAME [--run RUN-ID]",
		Short: "Print a run's log: claims, retries after lost leases, shard results",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			evs, err := e.client().JobLogs(e.ctx, args[0], runID)
			if err != nil {
				return err
			}
			return e.emit(evs, func() error {
				for _, ev := range evs {
					fmt.Fprintf(e.stdout, "%s  %s  %s\n", ev.At.Local().Format("2006-01-02T15:04:05.000"), ev.Run, ev.Message)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "this run's log (default: the latest run)")
	return cmd
}

func newJobCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME",
		Short: "Cancel a job's runs in progress (workers stop at their next heartbeat)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := e.client().CancelJob(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(ids, func() error {
				fmt.Fprintf(e.stdout, "cancelled %s\n", strings.Join(ids, ", "))
				return nil
			})
		},
	}
}

func newJobRunCmd(e *env) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Start a run of a job now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := e.client().StartJob(e.ctx, args[0])
			if err != nil {
				return err
			}
			if wait {
				if run, err = waitJobRun(e, args[0], run.ID); err != nil {
					return err
				}
			}
			err = e.emit(run, func() error {
				fmt.Fprintf(e.stdout, "run %s %s\n", run.ID, run.Status)
				return nil
			})
			if err != nil {
				return err
			}
			return runFailed(&run)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to finish; fail if it fails")
	return cmd
}

func newJobDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a job and its run records (not its output files)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteJob(e.ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "job %s deleted\n", args[0])
			return nil
		},
	}
}
