package batch

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// memPublisher is a destination that is not the local file system: it
// copies published files into a map. It can be told to fail one call of
// Publish, before or after the file arrives.
type memPublisher struct {
	// failCall, when positive, is the call of Publish that fails (1: the
	// first); failLanded makes it store the file first, like an upload
	// whose reply was lost.
	failCall   int
	failLanded bool

	mu    sync.Mutex // guards calls and files
	calls int
	files map[string][]byte
}

var _ Publisher = (*memPublisher)(nil)

var errPublish = errors.New("the object store is down")

func (p *memPublisher) Publish(_ context.Context, local, dest string) error {
	b, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	fail := p.calls == p.failCall
	if fail && !p.failLanded {
		return errPublish
	}
	if p.files == nil {
		p.files = map[string][]byte{}
	}
	p.files[dest] = b
	if fail {
		return errPublish
	}
	return nil
}

func (p *memPublisher) Exists(_ context.Context, dest string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.files[dest]
	return ok, nil
}

func (p *memPublisher) Remove(_ context.Context, dest string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.files, dest)
	return nil
}

// names returns the published destinations, sorted.
func (p *memPublisher) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ns []string
	for n := range p.files {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (p *memPublisher) file(dest string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.files[dest])
}

// inputWithRejects writes the fixture (1,138 rows) with two rows that
// cannot be scored after it, and returns its path.
func inputWithRejects(t *testing.T, dir string) string {
	t.Helper()
	src := fixtureWithID(t, dir, 2)
	b := append([]byte(readFile(t, src)), "99998,oops\n99999,1,2\n"...)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

// dirNames lists a directory's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

// TestPublishToObjectStore runs into a destination that is not a local
// path, through a Publisher, with Publish failing at each step of
// finishing: the failed run stays resumable, and the resume publishes an
// output and rejects file identical to those of an uninterrupted local run,
// leaving no work files.
func TestPublishToObjectStore(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	src := inputWithRejects(t, dir)
	spec := Spec{Input: src, IDColumn: "id", Keep: []string{"worst_area"}, ChunkRows: 100, Workers: 2, MaxRejectRate: 0.01}
	const out, rejects = "output", "rejects"
	cases := []struct {
		name       string
		failCall   int
		failLanded bool
		// atFailure are the files published when the failed run returns.
		atFailure []string
	}{
		{name: "no-failure"},
		{name: "output-fails", failCall: 1},
		{name: "output-arrives-reply-lost", failCall: 1, failLanded: true, atFailure: []string{out}},
		{name: "rejects-fail", failCall: 2, atFailure: []string{out}},
		{name: "rejects-arrive-reply-lost", failCall: 2, failLanded: true, atFailure: []string{out, rejects}},
	}
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		ref := spec
		ref.Output = filepath.Join(dir, "ref."+format)
		if _, err := Run(context.Background(), ref, Options{Model: m}); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				pub := &memPublisher{failCall: c.failCall, failLanded: c.failLanded}
				work := t.TempDir()
				s := spec
				s.Output = "mem://bucket/scores/" + c.name + "." + format
				dests := map[string]string{out: s.Output, rejects: s.Output + ".rejects.csv"}
				opts := Options{Model: m, Publisher: pub, WorkDir: work}
				res, err := Run(context.Background(), s, opts)
				if c.failCall > 0 {
					if !errors.Is(err, errPublish) {
						t.Fatalf("Run = %v; want the Publish error", err)
					}
					var want []string
					for _, f := range c.atFailure {
						want = append(want, dests[f])
					}
					slices.Sort(want)
					if got := pub.names(); !slices.Equal(got, want) {
						t.Fatalf("published after the failure: %q; want %q", got, want)
					}
					cp, _, err := ReadCheckpoint(CheckpointPathIn(work, s.Output))
					if err != nil {
						t.Fatalf("after the failure: %v", err)
					}
					if !cp.Staged || !cp.State.Done {
						t.Fatalf("checkpoint staged %v, done %v; want both", cp.Staged, cp.State.Done)
					}
					opts.Resume = true
					if res, err = Run(context.Background(), Spec{Output: s.Output}, opts); err != nil {
						t.Fatalf("resume: %v", err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if res.Output != dests[out] || res.Rejects != dests[rejects] || res.RowsIn != 1140 || res.Rejected != 2 {
					t.Errorf("result %+v; want output %s, rejects %s, 1140 rows in, 2 rejected", res, dests[out], dests[rejects])
				}
				if got, want := pub.names(), []string{dests[out], dests[rejects]}; !slices.Equal(got, want) {
					t.Errorf("published %q; want %q", got, want)
				}
				if pub.file(dests[out]) != readFile(t, ref.Output) {
					t.Errorf("published output differs from the local run's")
				}
				if got, want := pub.file(dests[rejects]), readFile(t, ref.Output+".rejects.csv"); got != want {
					t.Errorf("published rejects:\n%s\nwant\n%s", got, want)
				}
				if left := dirNames(t, work); len(left) > 0 {
					t.Errorf("work files left behind: %q", left)
				}
			})
		}
	}
}

// TestPublishRemovesStaleRejects: a run that rejects nothing removes the
// rejects file an earlier run published, as a local run does.
func TestPublishRemovesStaleRejects(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	src := fixtureWithID(t, dir, 1)
	out := "mem://bucket/scores.csv"
	pub := &memPublisher{files: map[string][]byte{out + ".rejects.csv": []byte("line,reason\n4,\"bad\"\n")}}
	res, err := Run(context.Background(), Spec{Input: src, Output: out}, Options{Model: m, Publisher: pub, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejects != "" {
		t.Errorf("Rejects = %q; want none", res.Rejects)
	}
	if got := pub.names(); !slices.Equal(got, []string{out}) {
		t.Errorf("published %q; want only %s", got, out)
	}
}

// TestPublisherNeedsWorkDir: work files sit next to the output only when
// the output is a local file.
func TestPublisherNeedsWorkDir(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	src := inputWithRejects(t, dir)
	// An in-place run that fails on its rejects leaves a checkpoint.
	local := filepath.Join(dir, "local.csv")
	if _, err := Run(context.Background(), Spec{Input: src, Output: local}, Options{Model: m}); !errors.Is(err, ErrRejectRate) {
		t.Fatalf("Run = %v; want ErrRejectRate", err)
	}
	tests := []struct {
		name string
		spec Spec
		opts Options
		want string
	}{
		{"new run", Spec{Input: src, Output: "mem://bucket/x.csv"}, Options{Publisher: &memPublisher{}}, "work dir: required"},
		{"resume in place", Spec{Output: local}, Options{Publisher: &memPublisher{}, Resume: true}, "resume: work dir: required"},
		{"resume elsewhere", Spec{Output: local}, Options{WorkDir: dir, Resume: true}, "no checkpoint at " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Model = m
			_, err := Run(context.Background(), tt.spec, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestKillAndResumeWorkDir kills a run with a work directory at random
// points, twice, then resumes it: the output and rejects file are those of
// a run never interrupted, and no work file is left in either directory.
func TestKillAndResumeWorkDir(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	m := loadModel(t)
	dir := t.TempDir()
	src := inputWithRejects(t, dir)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	for _, format := range []string{"csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			spec := Spec{Input: src, IDColumn: "id", ChunkRows: 50, Workers: 2, MaxRejectRate: 0.01}
			ref := spec
			ref.Output = filepath.Join(dir, "ref."+format)
			if _, err := Run(context.Background(), ref, Options{Model: m}); err != nil {
				t.Fatal(err)
			}
			outDir, work := t.TempDir(), t.TempDir()
			spec.Output = filepath.Join(outDir, "scores."+format)
			chunks := int64(1140/50 + 1)
			var at int64
			finished := false
			for attempt := range 2 {
				killAt := at + 1 + rng.Int64N(max(1, chunks-5-at-1))
				killed := killChildIn(t, work, spec, attempt > 0, killAt)
				t.Logf("attempt %d: killed after chunk >= %d: %v", attempt, killAt, killed)
				if !killed {
					finished = true
					break
				}
				cp, _, err := ReadCheckpoint(CheckpointPathIn(work, spec.Output))
				if err != nil {
					t.Fatalf("after kill: %v", err)
				}
				at = cp.State.Seq
				if got := dirNames(t, outDir); len(got) > 0 {
					t.Fatalf("output directory holds %q before the run finished", got)
				}
			}
			if !finished {
				if _, err := Run(context.Background(), Spec{Output: spec.Output}, Options{Model: m, WorkDir: work, Resume: true}); err != nil {
					t.Fatalf("resume: %v", err)
				}
			}
			if readFile(t, ref.Output) != readFile(t, spec.Output) {
				t.Errorf("output after kill -9 and resume differs from the uninterrupted run's")
			}
			if readFile(t, ref.Output+".rejects.csv") != readFile(t, spec.Output+".rejects.csv") {
				t.Errorf("rejects after kill -9 and resume differ")
			}
			if got, want := dirNames(t, outDir), []string{"scores." + format, "scores." + format + ".rejects.csv"}; !slices.Equal(got, want) {
				t.Errorf("output directory holds %q; want %q", got, want)
			}
			if left := dirNames(t, work); len(left) > 0 {
				t.Errorf("work files left behind: %q", left)
			}
		})
	}
}

func TestCheckpointPathIn(t *testing.T) {
	if got := CheckpointPathIn("", "out/scores.csv"); got != "out/scores.csv.checkpoint" {
		t.Errorf("no work dir: %s; want out/scores.csv.checkpoint", got)
	}
	a := CheckpointPathIn("w", "mem://a/scores.csv")
	b := CheckpointPathIn("w", "mem://b/scores.csv")
	if a == b || !strings.HasPrefix(a, filepath.Join("w", "scores.csv-")) || !strings.HasSuffix(a, ".checkpoint") {
		t.Errorf("work dir: %s and %s; want two names w/scores.csv-HASH.checkpoint", a, b)
	}
	if again := CheckpointPathIn("w", "mem://a/scores.csv"); again != a {
		t.Errorf("the same output gave %s, then %s", a, again)
	}
}

// TestLocalPublishCopies: publishing across file systems copies the file
// into place atomically and leaves the source for the run to remove.
func TestLocalPublishCopies(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "work", "x.partial")
	dest := filepath.Join(dir, "out", "x.csv")
	for p, s := range map[string]string{src: "new\n", dest: "old\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyInto(src, dest); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "new\n" {
		t.Errorf("dest holds %q; want %q", got, "new\n")
	}
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("dest mode %v, %v; want 0644", st.Mode(), err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source: %v; want it left", err)
	}
	if got := dirNames(t, filepath.Dir(dest)); !slices.Equal(got, []string{"x.csv"}) {
		t.Errorf("dest directory holds %q", got)
	}

	// Through LocalFS, from another file system when there is one.
	shm, err := os.MkdirTemp("/dev/shm", "sluice-batch-")
	if err != nil {
		t.Skipf("no second file system: %v", err)
	}
	defer os.RemoveAll(shm)
	other := filepath.Join(shm, "x.partial")
	if err := os.WriteFile(other, []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, filepath.Join(dir, "probe")); !errors.Is(err, syscall.EXDEV) {
		t.Skipf("/dev/shm is on the same file system: %v", err)
	}
	if err := (LocalFS{}).Publish(context.Background(), other, dest); err != nil {
		t.Fatalf("Publish across file systems: %v", err)
	}
	if got := readFile(t, dest); got != "other\n" {
		t.Errorf("dest holds %q; want %q", got, "other\n")
	}
}
