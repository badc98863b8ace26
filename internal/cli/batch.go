package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/batch"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/server"
)

func newBatchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Score files (CSV, JSON Lines, Parquet) locally, with crash-safe resume",
		Long: `Score a file with a model, locally: no server needed for a model file, or the model
fetched from a server's registry. The output holds the id and kept columns and the
predictions; rows that cannot be scored go to OUTPUT.rejects.csv with their line and
the reason. The run is checkpointed: after a crash or kill, ` + "`sluice batch resume OUTPUT`" + `
finishes it, and the output is the same as an uninterrupted run's.`,
	}
	cmd.AddCommand(newBatchRunCmd(e), newBatchResumeCmd(e), newBatchCatCmd(e), &cobra.Command{
		Use:     "convert IN OUT",
		Short:   "Convert a table between CSV, JSON Lines and Parquet (numbers in text stay numbers)",
		Example: `  sluice batch convert transactions.csv transactions.parquet`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return batch.Copy(e.ctx, nil, args[0], "", args[1], "", nil)
		},
	})
	return cmd
}

// batchFlags are the flags of `batch run`.
type batchFlags struct {
	spec      batch.Spec
	modelFile string
	format    string
	modelRef  string
	endpoint  string
	keep      string
	run       batchRunFlags
}

func newBatchRunCmd(e *env) *cobra.Command {
	var bf batchFlags
	cmd := &cobra.Command{
		Use:   "run --input FILE --output FILE (--model-file FILE | --model NAME@REF | --endpoint NAME)",
		Short: "Score a file",
		Example: `  sluice batch run --model-file model.json --input in.csv --output scores.parquet --id-column id
  sluice batch run --model fraud@production --input day.parquet --output day-scores.csv --keep-columns region,amount
  sluice batch run --endpoint fraud --input events.jsonl --output scored.jsonl --workers 4
  sluice batch run --model fraud@production --input day.parquet --output day-scores.parquet -o json   # the summary as JSON`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, s := range []string{bf.modelFile, bf.modelRef, bf.endpoint} {
				if s != "" {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --model-file, --model and --endpoint")
			}
			if bf.keep != "" {
				for _, k := range strings.Split(bf.keep, ",") {
					bf.spec.Keep = append(bf.spec.Keep, strings.TrimSpace(k))
				}
			}
			ref := batch.ModelRef{File: bf.modelFile, Format: bf.format, Endpoint: bf.endpoint}
			verRef := ""
			switch {
			case bf.modelRef != "":
				name, r, ok := strings.Cut(bf.modelRef, "@")
				if !ok {
					r = "latest"
				}
				ref.Name, verRef = name, r
			case bf.endpoint != "":
				ep, err := e.client().GetEndpoint(e.ctx, bf.endpoint)
				if err != nil {
					return err
				}
				if ep.ServingVersion == 0 {
					return fmt.Errorf("--endpoint: %s serves no version yet", bf.endpoint)
				}
				ref.Name, verRef = ep.Spec.Model, fmt.Sprint(ep.ServingVersion)
			}
			if err := bf.spec.Normalize(); err != nil {
				return err
			}
			m, ref, err := loadBatchModel(e, ref, verRef, bf.spec.Workers)
			if err != nil {
				return err
			}
			bf.spec.Model = ref
			return runBatch(e, bf.spec, m, ref, bf.run)
		},
	}
	f := cmd.Flags()
	f.StringVar(&bf.spec.Input, "input", "", "file to score: .csv, .jsonl or .parquet")
	f.StringVar(&bf.spec.Output, "output", "", "file to write: .csv, .jsonl or .parquet")
	f.StringVar(&bf.spec.InputFormat, "input-format", "", "input format when the extension does not say: csv, jsonl, parquet")
	f.StringVar(&bf.spec.OutputFormat, "output-format", "", "output format when the extension does not say: csv, jsonl, parquet")
	f.StringVar(&bf.spec.Rejects, "rejects", "", "rejects file (default OUTPUT.rejects.csv)")
	f.StringVar(&bf.modelFile, "model-file", "", "score with a local model file")
	f.StringVar(&bf.format, "format", "", "format of --model-file (default: detected), e.g. xgboost, lightgbm, linear, onnx")
	f.StringVar(&bf.modelRef, "model", "", "score with a registry version from the server: NAME@VERSION, NAME@ALIAS or NAME (latest)")
	f.StringVar(&bf.endpoint, "endpoint", "", "score with the version an endpoint on the server serves")
	f.StringVar(&bf.spec.IDColumn, "id-column", "", "input column copied to the output first, and to the rejects file")
	f.StringVar(&bf.keep, "keep-columns", "", "more input columns copied to the output, comma-separated")
	f.IntVar(&bf.spec.Workers, "workers", 0, "scoring workers (default: one per CPU)")
	f.IntVar(&bf.spec.ChunkRows, "chunk-rows", 16384, "rows per chunk: the unit of work and of checkpoints")
	f.Float64Var(&bf.spec.MaxRejectRate, "max-reject-rate", 0.05, "largest share of rows (0..1) that may be rejected before the run fails")
	f.StringVar(&bf.run.progress, "progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or off")
	f.DurationVar(&bf.run.every, "checkpoint-interval", time.Second, "least time between checkpoints (each fsyncs the output); a crash loses at most this much work; 0: after every chunk")
	f.StringVar(&bf.run.workDir, "work-dir", "", "directory for the run's work files (partial output, rejects, checkpoint) until the output is complete (default: next to the output)")
	printFlag(cmd, e)
	return cmd
}

func newBatchResumeCmd(e *env) *cobra.Command {
	var rf batchRunFlags
	cmd := &cobra.Command{
		Use:   "resume CHECKPOINT|OUTPUT",
		Short: "Finish an interrupted batch run from its checkpoint",
		Example: `  sluice batch resume scores.parquet
  sluice batch resume scores.parquet.checkpoint
  sluice batch resume --work-dir /var/tmp/sluice scores.parquet   # a run started with --work-dir`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if filepath.Ext(path) != ".checkpoint" {
				path = batch.CheckpointPathIn(rf.workDir, path)
			}
			cp, cpPath, err := batch.ReadCheckpoint(path)
			if err != nil {
				return err
			}
			ref := cp.Spec.Model
			if ref.Server != "" && e.server == DefaultServer && os.Getenv("SLUICE_SERVER") == "" {
				e.server = ref.Server
			}
			m, ref, err := loadBatchModel(e, ref, "", cp.Spec.Workers)
			if err != nil {
				return err
			}
			rf.resume, rf.resumed = true, args[0]
			return runBatch(e, batch.Spec{Output: cpPath}, m, ref, rf)
		},
	}
	cmd.Flags().StringVar(&rf.progress, "progress", "auto", "auto, bar, lines or off")
	cmd.Flags().DurationVar(&rf.every, "checkpoint-interval", time.Second, "least time between checkpoints; 0: after every chunk")
	cmd.Flags().StringVar(&rf.workDir, "work-dir", "", "the --work-dir the run was started with, to find its checkpoint from OUTPUT")
	return cmd
}

func newBatchCatCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "cat FILE",
		Short: "Print a CSV, JSON Lines or Parquet file as CSV (or JSON Lines)",
		Example: `  sluice batch cat scores.parquet | head
  sluice batch cat scores.parquet --format jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != batch.FormatCSV && format != batch.FormatJSONL {
				return fmt.Errorf("--format: %q is not one of csv, jsonl", format)
			}
			return batch.Copy(e.ctx, nil, args[0], "", "-", format, e.stdout)
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	return cmd
}

// loadBatchModel loads the model a run names. A registry reference is
// resolved (verRef: a number, alias or "latest") to its version number and
// digest on the first run; a resume loads that exact version and checks the
// digest.
func loadBatchModel(e *env, ref batch.ModelRef, verRef string, workers int) (inference.Model, batch.ModelRef, error) {
	formats := server.Formats("", nil)
	threads := 0
	if workers != 1 {
		threads = 1 // the pipeline runs one Predict per worker
	}
	if ref.File != "" {
		data, err := os.ReadFile(ref.File)
		if err != nil {
			return nil, ref, fmt.Errorf("--model-file: %w", err)
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		if ref.Digest != "" && ref.Digest != digest {
			return nil, ref, fmt.Errorf("the model file %s changed since the run started (sha256 %s, was %s)", ref.File, digest[:12], ref.Digest[:12])
		}
		ref.Digest = digest
		if ref.Format == "" {
			if ref.Format, err = formats.Detect(data); err != nil {
				return nil, ref, fmt.Errorf("--model-file: %w", err)
			}
		}
		m, err := formats.Load(e.ctx, ref.Format, data, inference.LoadOptions{Threads: threads})
		if err != nil {
			return nil, ref, fmt.Errorf("loading %s: %w", ref.File, err)
		}
		return m, ref, nil
	}
	c := e.client()
	if ref.Version > 0 {
		verRef = fmt.Sprint(ref.Version)
	}
	v, err := c.GetVersion(e.ctx, ref.Name, verRef)
	if err != nil {
		return nil, ref, fmt.Errorf("resolving %s@%s: %w", ref.Name, verRef, err)
	}
	if ref.Digest != "" && ref.Digest != v.Digest {
		return nil, ref, fmt.Errorf("%s@%d has digest %s, the run started with %s", v.Model, v.Version, v.Digest, ref.Digest)
	}
	data, err := c.Artifact(e.ctx, v.Model, fmt.Sprint(v.Version))
	if err != nil {
		return nil, ref, err
	}
	opts, err := registry.LoadOptionsFor(v.Signature, v.Params)
	if err != nil {
		return nil, ref, err
	}
	if opts.Threads == 0 {
		opts.Threads = threads
	}
	m, err := formats.Load(e.ctx, v.Format, data, opts)
	if err != nil {
		return nil, ref, fmt.Errorf("loading %s@%d: %w", v.Model, v.Version, err)
	}
	ref = batch.ModelRef{Server: e.server, Name: v.Model, Version: v.Version, Endpoint: ref.Endpoint, Format: v.Format, Digest: v.Digest}
	return m, ref, nil
}

// batchSummary is what `batch run` and `batch resume` print at the end;
// its JSON names match a job run's (`sluice job show -o json`).
type batchSummary struct {
	Output string `json:"output"`
	// Rejects is the rejects file; "" when no row was rejected.
	Rejects  string `json:"rejects,omitempty"`
	RowsIn   int64  `json:"rows_in"`
	RowsOut  int64  `json:"rows_out"`
	Rejected int64  `json:"rejected"`
	// DurationSeconds is this process's time on the run, and
	// RowsPerSecond RowsIn over it.
	DurationSeconds float64 `json:"duration_seconds"`
	RowsPerSecond   float64 `json:"rows_per_second"`
	// Model is the model file, or the registry version with its digest.
	Model batch.ModelRef `json:"model"`
	// Drift is the input's drift against the registry version's baseline,
	// or why there is none; absent for a model file. A resumed run's
	// covers the rows this process scored.
	Drift *jobs.DriftSummary `json:"drift,omitempty"`
}

// batchDrift prepares drift monitoring of a run with a registry version:
// the monitor, or nil with the summary that says why there is none.
func batchDrift(e *env, ref batch.ModelRef, m inference.Model) (*jobs.DriftMonitor, *jobs.DriftSummary) {
	if ref.Name == "" {
		return nil, nil
	}
	base, err := e.client().VersionBaseline(e.ctx, ref.Name, ref.Version)
	if notFound(err) {
		return nil, &jobs.DriftSummary{Message: fmt.Sprintf("no baseline is stored for %s, so input drift was not computed", ref)}
	}
	if err == nil {
		var mon *jobs.DriftMonitor
		if mon, err = jobs.NewDriftMonitor(base, m); err == nil {
			return mon, nil
		}
	}
	return nil, &jobs.DriftSummary{Message: "drift not computed: " + err.Error()}
}

// batchRunFlags are how `batch run` and `batch resume` run a batch run.
type batchRunFlags struct {
	// resume is set for `batch resume`; resumed is its argument.
	resume   bool
	resumed  string
	workDir  string
	progress string
	every    time.Duration
}

// runBatch runs (or resumes) a batch run with progress on stderr and a
// summary on stdout. A resume names its checkpoint in spec.Output.
func runBatch(e *env, spec batch.Spec, m inference.Model, ref batch.ModelRef, rf batchRunFlags) error {
	every := rf.every
	if every <= 0 {
		every = -1 // after every chunk
	}
	p, err := newProgressPrinter(e.stderr, rf.progress)
	if err != nil {
		return err
	}
	mon, noDrift := batchDrift(e, ref, m)
	opts := batch.Options{Model: m, Resume: rf.resume, WorkDir: rf.workDir, Progress: p.update, CommitInterval: every}
	if mon != nil {
		opts.Observe = mon.Observe
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	res, err := batch.Run(ctx, spec, opts)
	p.done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			again := spec.Output
			if rf.resume {
				again = rf.resumed
			}
			return fmt.Errorf("interrupted; continue with `%s`", batch.ResumeCommand(rf.workDir, again))
		}
		return err
	}
	sum := batchSummary{Output: res.Output, Rejects: res.Rejects, RowsIn: res.RowsIn, RowsOut: res.RowsOut, Rejected: res.Rejected,
		DurationSeconds: res.Duration.Seconds(), Model: res.Model, Drift: noDrift}
	sum.RowsPerSecond = float64(res.RowsIn) / max(sum.DurationSeconds, 1e-9)
	if mon != nil {
		d := mon.Summary()
		d.Drifted = d.Report != nil && d.Report.Drifted
		sum.Drift = &d
	}
	return e.emit(sum, func() error {
		fmt.Fprintf(e.stdout, "scored %d rows with %s in %s (%s rows/s): %d written to %s, %d rejected",
			res.RowsIn, res.Model, res.Duration.Round(time.Millisecond), human(sum.RowsPerSecond), res.RowsOut, res.Output, res.Rejected)
		if res.Rejected > 0 {
			fmt.Fprintf(e.stdout, " (see %s)", res.Rejects)
		}
		fmt.Fprintln(e.stdout)
		if d := sum.Drift; d != nil {
			switch {
			case !d.Baseline:
				fmt.Fprintf(e.stdout, "drift: %s\n", d.Message)
			case d.Drifted:
				fmt.Fprintln(e.stdout, "drift: DRIFTED against the version's baseline (see -o json for each feature)")
			default:
				fmt.Fprintln(e.stdout, "drift: none flagged against the version's baseline")
			}
		}
		return nil
	})
}

// progressPrinter shows a run's progress: a bar redrawn in place on a
// terminal, a line every ten seconds otherwise.
type progressPrinter struct {
	w     io.Writer
	bar   bool
	off   bool
	last  time.Time
	drawn bool
}

func newProgressPrinter(w io.Writer, mode string) (*progressPrinter, error) {
	p := &progressPrinter{w: w}
	switch mode {
	case "auto":
		f, ok := w.(*os.File)
		p.bar = ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
	case "bar":
		p.bar = true
	case "lines":
	case "off":
		p.off = true
	default:
		return nil, fmt.Errorf("--progress: %q is not one of auto, bar, lines, off", mode)
	}
	return p, nil
}

func (p *progressPrinter) update(pr batch.Progress) {
	if p.off {
		return
	}
	every := 10 * time.Second
	if p.bar {
		every = 200 * time.Millisecond
	}
	if !pr.Finished && time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	rate := float64(pr.RowsIn-pr.ResumedRows) / max(pr.Elapsed.Seconds(), 1e-9)
	frac := 0.0
	if pr.Total > 0 {
		frac = min(1, float64(pr.Done)/float64(pr.Total))
	}
	eta := "?"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(float64(pr.Elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	if !p.bar {
		fmt.Fprintf(p.w, "batch: %d rows (%d rejected), %s rows/s, %.0f%%, eta %s\n", pr.RowsIn, pr.Rejected, human(rate), 100*frac, eta)
		return
	}
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %d rows  %s rows/s  ETA %s  ", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, pr.RowsIn, human(rate), eta)
	p.drawn = true
}

func (p *progressPrinter) done() {
	if p.bar && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// human formats a rate: 950, 12.3k, 1.25M.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
