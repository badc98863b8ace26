package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice/internal/inference"
)

// Spec describes a batch run. It is recorded in the checkpoint, so a
// resumed run does exactly what the interrupted one would have.
type Spec struct {
	// Input is the file to score; InputFormat its format (csv, jsonl,
	// parquet), by default taken from the extension.
	Input       string `json:"input"`
	InputFormat string `json:"input_format,omitempty"`
	// Output is the file written; OutputFormat as for InputFormat.
	Output       string `json:"output"`
	OutputFormat string `json:"output_format,omitempty"`
	// Rejects is the rejects file (CSV: line, [id,] reason); default
	// OUTPUT.rejects.csv.
	Rejects string `json:"rejects,omitempty"`
	// IDColumn, when set, is copied to the output first and to the
	// rejects file.
	IDColumn string `json:"id_column,omitempty"`
	// Keep are more input columns copied to the output.
	Keep []string `json:"keep_columns,omitempty"`
	// Workers is the number of scoring goroutines; 0 means GOMAXPROCS.
	Workers int `json:"workers,omitempty"`
	// ChunkRows is the number of rows per chunk; 0 means 16384.
	ChunkRows int `json:"chunk_rows,omitempty"`
	// MaxRejectRate is the largest share of rejected rows (0..1) the run
	// accepts; past it the run fails. It is checked once 1000 rows are
	// read, and at the end.
	MaxRejectRate float64 `json:"max_reject_rate"`
	// Range limits the run to part of the input (a shard).
	Range Range `json:"range,omitzero"`
	// Fingerprint is the input's size and modification time when the run
	// started; a resume refuses an input that changed.
	Fingerprint Fingerprint `json:"input_fingerprint"`
	// Model says which model scores the rows. The batch package only
	// records it; the caller loads the model.
	Model ModelRef `json:"model"`
}

// ModelRef names the model of a run: a local file, or a registry version
// on a server (resolved to its number and digest when the run starts).
type ModelRef struct {
	// File and Format are a local model file and its format.
	File   string `json:"file,omitempty"`
	Format string `json:"format,omitempty"`
	// Server, Name and Version are a registry version; Endpoint the
	// endpoint it was chosen through, if any.
	Server   string `json:"server,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  int    `json:"version,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	// Digest is the artifact's sha256, checked on resume.
	Digest string `json:"digest"`
}

// String describes the model for people.
func (m ModelRef) String() string {
	if m.Name != "" {
		return m.Name + "@" + strconv.Itoa(m.Version)
	}
	return m.File
}

// Options are what a run needs beyond its Spec.
type Options struct {
	// Model scores the rows; it must have one tabular input.
	Model inference.Model
	// FS opens the input; nil means LocalFS.
	FS FS
	// Publisher puts the finished output and rejects file at their
	// destinations (Spec.Output and Spec.Rejects); nil means LocalFS.
	Publisher Publisher
	// WorkDir is a local directory for the run's work files (the data
	// file, Parquet spool, rejects file and checkpoint) until they are
	// published. Empty puts them next to the output, as OUTPUT.partial,
	// OUTPUT.checkpoint and so on, which only a LocalFS Publisher allows.
	// A resume finds the checkpoint of its output in the same WorkDir.
	WorkDir string
	// Progress, if set, is called after every committed chunk.
	Progress func(Progress)
	// Logger receives the run's logs; nil discards them.
	Logger *slog.Logger
	// Resume continues the run recorded in the output's checkpoint
	// instead of refusing to overwrite it.
	Resume bool
	// Observe, if set, is called with the features of every scored row
	// (in the model's feature order) and its first prediction value (NaN
	// when not a number), from several goroutines at once; a drift monitor
	// counts them. A resumed run observes only the rows it scores itself.
	Observe func(x []float32, prediction float64)
	// CommitInterval is the least time between two checkpoints (each
	// one fsyncs the outputs); a crash loses at most this much work.
	// 0 means one second; negative means after every chunk.
	CommitInterval time.Duration
}

// Progress reports a run's progress.
type Progress struct {
	RowsIn, RowsOut, Rejected int64
	// ResumedRows are the rows already done when this process started.
	ResumedRows int64
	// Done and Total measure the input read, in bytes (text) or rows
	// (Parquet); Total 0 when unknown.
	Done, Total int64
	// Elapsed is this process's time on the run.
	Elapsed time.Duration
	// Finished is set on the last call.
	Finished bool
}

// Result is a finished run.
type Result struct {
	Output string `json:"output"`
	// Rejects is the rejects file; "" when no row was rejected.
	Rejects  string        `json:"rejects,omitempty"`
	RowsIn   int64         `json:"rows_in"`
	RowsOut  int64         `json:"rows_out"`
	Rejected int64         `json:"rejected"`
	Duration time.Duration `json:"duration_ns"`
	Model    ModelRef      `json:"model"`
}

// ErrRejectRate marks a run that rejected more rows than MaxRejectRate.
var ErrRejectRate = errors.New("too many rejected rows")

// ErrCheckpointExists marks a run whose output has a checkpoint from an
// interrupted run: resume it or remove the checkpoint.
var ErrCheckpointExists = errors.New("an interrupted run left a checkpoint")

// minRowsForRate is how many rows must be read before the reject rate can
// fail a run early.
const minRowsForRate = 1000

// Normalize fills defaults and checks a spec, naming the field at fault.
func (s *Spec) Normalize() error {
	if s.Input == "" {
		return errors.New("input: required")
	}
	if s.Output == "" {
		return errors.New("output: required")
	}
	var err error
	if s.InputFormat == "" {
		if s.InputFormat, err = FormatOf(s.Input, "input"); err != nil {
			return err
		}
	} else if err := checkFormat(s.InputFormat, "input format"); err != nil {
		return err
	}
	if s.OutputFormat == "" {
		if s.OutputFormat, err = FormatOf(s.Output, "output"); err != nil {
			return err
		}
	} else if err := checkFormat(s.OutputFormat, "output format"); err != nil {
		return err
	}
	if s.Rejects == "" {
		s.Rejects = s.Output + ".rejects.csv"
	}
	if sameFile(s.Input, s.Output) || sameFile(s.Input, s.Rejects) || sameFile(s.Output, s.Rejects) {
		return errors.New("output: the input, the output and the rejects file must be different files")
	}
	if s.Workers < 0 || s.Workers > 1024 {
		return fmt.Errorf("workers: %d is not between 0 and 1024", s.Workers)
	}
	if s.ChunkRows < 0 || s.ChunkRows > 1<<22 {
		return fmt.Errorf("chunk rows: %d is not between 0 and %d", s.ChunkRows, 1<<22)
	}
	if s.ChunkRows == 0 {
		s.ChunkRows = 16384
	}
	if !(s.MaxRejectRate >= 0 && s.MaxRejectRate <= 1) {
		return fmt.Errorf("max reject rate: %v is not between 0 and 1", s.MaxRejectRate)
	}
	if s.Range.Start < 0 || s.Range.End < 0 || (s.Range.End > 0 && s.Range.End < s.Range.Start) {
		return fmt.Errorf("range: [%d, %d) is not a range", s.Range.Start, s.Range.End)
	}
	for _, k := range s.Keep {
		if k == "" {
			return errors.New("keep columns: a column name is empty")
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}

// Run scores spec.Input into spec.Output. With opts.Resume it continues
// the interrupted run recorded in the output's checkpoint (spec is then
// taken from the checkpoint; pass a Spec whose Output is the output or the
// checkpoint file).
func Run(ctx context.Context, spec Spec, opts Options) (Result, error) {
	if opts.FS == nil {
		opts.FS = LocalFS{}
	}
	if opts.Publisher == nil {
		opts.Publisher = LocalFS{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Model == nil {
		return Result{}, errors.New("batch: no model")
	}
	var cp Checkpoint
	var cpPath string
	if opts.Resume {
		var err error
		path := spec.Output
		if path == "" {
			return Result{}, errors.New("resume: no output or checkpoint named")
		}
		if filepath.Ext(path) != ".checkpoint" {
			path = CheckpointPathIn(opts.WorkDir, path)
		}
		if cp, cpPath, err = ReadCheckpoint(path); err != nil {
			return Result{}, err
		}
		spec = cp.Spec
		if err := checkPublisher(opts.Publisher, cp.Staged); err != nil {
			return Result{}, fmt.Errorf("resume: %w", err)
		}
		fp, err := opts.FS.Stat(ctx, spec.Input)
		if err != nil {
			return Result{}, fmt.Errorf("resume: input %s: %w", spec.Input, err)
		}
		if fp != spec.Fingerprint {
			return Result{}, fmt.Errorf("resume: input %s changed since the run started (size %d, was %d); start a new run", spec.Input, fp.Size, spec.Fingerprint.Size)
		}
	} else {
		if err := spec.Normalize(); err != nil {
			return Result{}, err
		}
		if err := checkPublisher(opts.Publisher, opts.WorkDir != ""); err != nil {
			return Result{}, err
		}
		cpPath = CheckpointPathIn(opts.WorkDir, spec.Output)
		if _, err := os.Stat(cpPath); err == nil {
			return Result{}, fmt.Errorf("%w at %s: continue it with `%s`, or delete it to start over", ErrCheckpointExists, cpPath, ResumeCommand(opts.WorkDir, spec.Output))
		}
		fp, err := opts.FS.Stat(ctx, spec.Input)
		if err != nil {
			return Result{}, fmt.Errorf("input: %w", err)
		}
		spec.Fingerprint = fp
		cp = Checkpoint{Version: CheckpointVersion, Spec: spec, Staged: opts.WorkDir != ""}
	}
	r := &run{spec: spec, opts: opts, cp: cp, cpPath: cpPath, work: workFor(cpPath, &spec, cp.Staged), log: opts.Logger}
	return r.run(ctx)
}

// run is one run in progress.
type run struct {
	spec   Spec
	opts   Options
	cp     Checkpoint
	cpPath string
	work   work
	log    *slog.Logger

	in      inference.TensorSpec
	plan    Plan
	enc     encoder
	keep    []string
	preds   []predCol
	started time.Time
	// resumed and baseElapsed are the rows and scoring time of earlier
	// processes on this run.
	resumed     int64
	baseElapsed int64
}

func (r *run) run(ctx context.Context) (Result, error) {
	r.started = time.Now()
	st := &r.cp.State
	r.resumed, r.baseElapsed = st.RowsIn, st.ElapsedNs
	sig := r.opts.Model.Signature()
	in, ok := sig.TabularInput()
	if !ok {
		return Result{}, errors.New("the model does not take one tabular input with named features; batch scoring needs one")
	}
	r.in = in
	feats := make([]string, len(in.Features))
	for i, f := range in.Features {
		feats[i] = f.Name
	}
	if r.spec.IDColumn != "" {
		r.keep = append(r.keep, r.spec.IDColumn)
	}
	for _, k := range r.spec.Keep {
		if !slices.Contains(r.keep, k) {
			r.keep = append(r.keep, k)
		}
	}
	r.plan = Plan{Features: feats, AllowMissing: in.AllowMissing, Keep: r.keep}
	r.enc = newEncoder(r.spec.OutputFormat)

	if !st.Done {
		preds, err := predColumns(ctx, r.opts.Model, in)
		if err != nil {
			return Result{}, err
		}
		if st.Preds != nil && !slices.Equal(st.Preds, preds) {
			return Result{}, fmt.Errorf("resume: the model's outputs differ from the interrupted run's")
		}
		r.preds = preds
		if st.Columns == nil {
			for _, k := range r.keep {
				st.Columns = append(st.Columns, OutputColumn{Name: k, Kind: KindNull})
			}
			for _, p := range preds {
				k := KindString
				switch p.Type {
				case inference.FP32, inference.FP16:
					k = kindF32
				case inference.FP64:
					k = KindFloat
				case inference.BOOL:
					k = KindBool
				case inference.BYTES:
				default:
					k = KindInt
				}
				st.Columns = append(st.Columns, OutputColumn{Name: p.Name, Kind: k})
			}
		}
		st.Preds = preds
		if err := r.score(ctx); err != nil {
			return Result{}, err
		}
	}
	if err := r.finish(ctx); err != nil {
		return Result{}, err
	}
	rejects := r.spec.Rejects
	if st.Rejected == 0 {
		rejects = ""
	}
	return Result{Output: r.spec.Output, Rejects: rejects, RowsIn: st.RowsIn, RowsOut: st.RowsOut, Rejected: st.Rejected,
		Duration: time.Duration(st.ElapsedNs), Model: r.spec.Model}, nil
}

// openAt opens path for writing, truncated to size (creating it when size
// is 0), positioned at its end.
func openAt(path string, size int64) (*os.File, error) {
	flag := os.O_RDWR | os.O_CREATE
	if size == 0 {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if st.Size() < size {
			f.Close()
			return nil, fmt.Errorf("%s has %d bytes, the checkpoint says %d were written: the file was changed; start a new run", path, st.Size(), size)
		}
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// result is a chunk scored and encoded, waiting to be committed.
type result struct {
	seq      int64
	end      Position
	out      []byte
	rejects  []byte
	rows     int
	rejected int
	kinds    []Kind // union of kept kinds in the chunk
}

// score runs the pipeline from the checkpoint's position to the end of
// the input (or of the range).
func (r *run) score(ctx context.Context) error {
	st := &r.cp.State
	if err := os.MkdirAll(filepath.Dir(r.work.base), 0o755); err != nil {
		if r.cp.Staged {
			return fmt.Errorf("work dir: %w", err)
		}
		return fmt.Errorf("output directory: %w", err)
	}
	data, err := openAt(r.work.data, st.OutputBytes)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer data.Close()
	rej, err := openAt(r.work.rejects, st.RejectBytes)
	if err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	defer rej.Close()
	input, err := openInput(ctx, r.opts.FS, r.spec.Input, r.spec.InputFormat, &r.plan, st.Input, r.spec.Range, r.spec.ChunkRows)
	if err != nil {
		return err
	}
	defer input.Close()
	lineWord := "line"
	if r.spec.InputFormat == FormatParquet {
		lineWord = "row"
	}
	if st.Seq == 0 && st.OutputBytes == 0 {
		names := make([]string, 0, len(st.Columns))
		for _, c := range st.Columns {
			names = append(names, c.Name)
		}
		hdr := r.enc.header(names)
		if _, err := data.Write(hdr); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		rh := lineWord + ","
		if r.spec.IDColumn != "" {
			rh += string(appendCSVField(nil, r.spec.IDColumn)) + ","
		}
		rh += "reason\n"
		if _, err := rej.Write([]byte(rh)); err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		st.OutputBytes, st.RejectBytes = int64(len(hdr)), int64(len(rh))
		if err := r.commit(data, rej); err != nil {
			return err
		}
	}

	workers := r.spec.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type job struct {
		seq int64
		c   Chunk
	}
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	tokens := make(chan struct{}, 2*workers+2) // bounds chunks in flight
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for seq := st.Seq; ; seq++ {
			select {
			case tokens <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			c, err := input.Next(gctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading input: %w", err)
			}
			select {
			case jobs <- job{seq: seq, c: c}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})
	var wg errgroup.Group
	for range workers {
		wg.Go(func() error {
			var f Frame
			for j := range jobs {
				res, err := r.process(gctx, j.c, &f, lineWord)
				if err != nil {
					return err
				}
				res.seq = j.seq
				select {
				case results <- res:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		err := wg.Wait()
		close(results)
		return err
	})
	g.Go(func() error {
		pending := map[int64]result{}
		last, lastCommit := time.Now(), time.Now()
		every := r.opts.CommitInterval
		if every == 0 {
			every = time.Second
		}
		for res := range results {
			pending[res.seq] = res
			for {
				next, ok := pending[st.Seq]
				if !ok {
					break
				}
				delete(pending, st.Seq)
				now := time.Now()
				if err := r.apply(data, rej, next, now.Sub(lastCommit) >= every); err != nil {
					return err
				}
				if now.Sub(lastCommit) >= every {
					lastCommit = now
				}
				<-tokens
				if r.opts.Progress != nil && time.Since(last) > 100*time.Millisecond {
					last = time.Now()
					r.report(input, false)
				}
			}
		}
		if len(pending) > 0 && gctx.Err() == nil {
			return fmt.Errorf("internal error: %d chunks were not committed", len(pending))
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.checkRate(true); err != nil {
		return err
	}
	st.Done = true
	if err := r.commit(data, rej); err != nil {
		return err
	}
	r.report(input, true)
	return nil
}

func (r *run) report(input Input, finished bool) {
	if r.opts.Progress == nil {
		return
	}
	st := &r.cp.State
	done, total := input.Progress()
	r.opts.Progress(Progress{RowsIn: st.RowsIn, RowsOut: st.RowsOut, Rejected: st.Rejected, ResumedRows: r.resumedRows(),
		Done: done, Total: total, Elapsed: time.Since(r.started), Finished: finished})
}

func (r *run) resumedRows() int64 { return r.resumed }

// apply commits one scored chunk: append, sync, checkpoint.
func (r *run) apply(data, rej *os.File, res result, commit bool) error {
	st := &r.cp.State
	if _, err := data.Write(res.out); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if _, err := rej.Write(res.rejects); err != nil {
		return fmt.Errorf("writing rejects: %w", err)
	}
	st.OutputBytes += int64(len(res.out))
	st.RejectBytes += int64(len(res.rejects))
	st.RowsIn += int64(res.rows)
	st.RowsOut += int64(res.rows - res.rejected)
	st.Rejected += int64(res.rejected)
	st.Input = res.end
	st.Seq++
	for k, kind := range res.kinds {
		st.Columns[k].Kind = unionKind(st.Columns[k].Kind, kind)
	}
	if err := r.checkRate(false); err != nil {
		return err
	}
	if !commit {
		return nil
	}
	return r.commit(data, rej)
}

// commit makes the files durable and records the state.
func (r *run) commit(data, rej *os.File) error {
	if err := data.Sync(); err != nil {
		return fmt.Errorf("syncing output: %w", err)
	}
	if err := rej.Sync(); err != nil {
		return fmt.Errorf("syncing rejects: %w", err)
	}
	r.cp.State.ElapsedNs = r.baseElapsed + int64(time.Since(r.started))
	if err := writeCheckpoint(r.cpPath, &r.cp); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}

func (r *run) checkRate(final bool) error {
	st := &r.cp.State
	if st.RowsIn == 0 || (!final && st.RowsIn < minRowsForRate) {
		return nil
	}
	rate := float64(st.Rejected) / float64(st.RowsIn)
	if rate > r.spec.MaxRejectRate {
		return fmt.Errorf("%w: %d of %d rows (%.2f%%) could not be scored, more than the %.2f%% allowed (--max-reject-rate); see %s",
			ErrRejectRate, st.Rejected, st.RowsIn, 100*rate, 100*r.spec.MaxRejectRate, r.work.rejects)
	}
	return nil
}

// finish publishes the complete output and rejects file and removes the
// work files, the checkpoint last. Each step can be repeated after a crash
// or a failed Publish: a work file is removed only once it is published,
// so one that is gone while its destination exists was published before.
func (r *run) finish(ctx context.Context) error {
	pub, w := r.opts.Publisher, r.work
	src := w.data
	if r.spec.OutputFormat == FormatParquet {
		ok, err := fileExists(w.data)
		if err != nil {
			return fmt.Errorf("finishing: %w", err)
		}
		if ok {
			// The spool stays until the Parquet file is published, so a
			// crash before that writes the file again.
			src = w.base + ".tmp"
			if err := writeParquet(w.data, src, r.cp.State.Columns); err != nil {
				return fmt.Errorf("writing %s: %w", r.spec.Output, err)
			}
		}
	}
	if err := publishFile(ctx, pub, src, r.spec.Output); err != nil {
		return fmt.Errorf("finishing: %w", err)
	}
	if err := removeFile(w.data); err != nil {
		return fmt.Errorf("finishing: %w", err)
	}
	switch {
	case r.cp.State.Rejected == 0:
		// The rejects file holds only its header; a run that rejected
		// nothing leaves none, not even an earlier run's.
		if err := removeFile(w.rejects); err != nil {
			return fmt.Errorf("finishing: %w", err)
		}
		if w.rejects != r.spec.Rejects {
			if err := pub.Remove(ctx, r.spec.Rejects); err != nil {
				return fmt.Errorf("finishing: removing %s: %w", r.spec.Rejects, err)
			}
		}
	case w.rejects != r.spec.Rejects:
		if err := publishFile(ctx, pub, w.rejects, r.spec.Rejects); err != nil {
			return fmt.Errorf("finishing: %w", err)
		}
	}
	if err := os.Remove(r.cpPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(r.cpPath))
	return nil
}
