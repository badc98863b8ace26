package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary act as a batch run that the crash test
// kills: with SLUICE_BATCH_CHILD set to a JSON Spec it runs (or, with
// SLUICE_BATCH_RESUME=1, resumes) that run, with the work directory
// SLUICE_BATCH_WORK_DIR if set, and exits.
func TestMain(m *testing.M) {
	if js := os.Getenv("SLUICE_BATCH_CHILD"); js != "" {
		var spec Spec
		if err := json.Unmarshal([]byte(js), &spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		opts := Options{Model: loadModel(nil), CommitInterval: -1, Resume: os.Getenv("SLUICE_BATCH_RESUME") == "1", WorkDir: os.Getenv("SLUICE_BATCH_WORK_DIR")}
		if _, err := Run(context.Background(), spec, opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKillAndResume kills a run with SIGKILL at random points, twice, then
// resumes it, and checks that the output and the rejects file are byte for
// byte those of a run that was never interrupted.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	m := loadModel(t)
	dir := t.TempDir()
	src := fixtureWithID(t, dir, 12) // 6828 rows
	// Two rows that cannot be scored, so the rejects file matters too.
	b := []byte(readFile(t, src))
	b = append(b, "99998,oops\n99999,1,2\n"...)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pq := filepath.Join(dir, "in.parquet")
	if err := Copy(context.Background(), nil, src, "", pq, "", nil); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	// The short row is rejected in CSV (too few fields) but scored from
	// Parquet, where its absent values are nulls: missing values.
	cases := []struct {
		in, out  string
		rejected int64
	}{{src, "csv", 2}, {src, "parquet", 2}, {pq, "jsonl", 1}, {pq, "parquet", 1}}
	for _, c := range cases {
		name := filepath.Ext(c.in)[1:] + "-to-" + c.out
		t.Run(name, func(t *testing.T) {
			spec := Spec{Input: c.in, IDColumn: "id", Keep: []string{"worst_area"}, ChunkRows: 100, Workers: 2, MaxRejectRate: 0.01}
			ref := spec
			ref.Output = filepath.Join(dir, name+"-ref."+c.out)
			if _, err := Run(context.Background(), ref, Options{Model: m}); err != nil {
				t.Fatal(err)
			}
			spec.Output = filepath.Join(dir, name+"."+c.out)
			chunks := 6830/100 + 1
			var at int64
			finished := false
			for attempt := range 2 {
				// A point after the last kill, before the end.
				killAt := at + 1 + rng.Int64N(max(1, int64(chunks-5)-at-1))
				killed := killChild(t, spec, attempt > 0, killAt)
				t.Logf("attempt %d: killed after chunk >= %d: %v", attempt, killAt, killed)
				if !killed {
					finished = true // the child got to the end first
					break
				}
				c, _, err := ReadCheckpoint(spec.Output)
				if err != nil {
					t.Fatalf("after kill: %v", err)
				}
				at = c.State.Seq
			}
			if !finished {
				res, err := Run(context.Background(), Spec{Output: spec.Output}, Options{Model: m, Resume: true})
				if err != nil {
					t.Fatalf("resume: %v", err)
				}
				if res.RowsIn != 6830 || res.Rejected != c.rejected {
					t.Errorf("resumed run: %d rows in, %d rejected; want 6830, %d", res.RowsIn, res.Rejected, c.rejected)
				}
			}
			if readFile(t, ref.Output) != readFile(t, spec.Output) {
				t.Errorf("output after kill -9 and resume differs from the uninterrupted run's")
			}
			if readFile(t, ref.Output+".rejects.csv") != readFile(t, spec.Output+".rejects.csv") {
				t.Errorf("rejects after kill -9 and resume differ:\n%s\nwant\n%s", readFile(t, spec.Output+".rejects.csv"), readFile(t, ref.Output+".rejects.csv"))
			}
		})
	}
}

// killChild runs (or resumes) spec in a child process and kills it with
// SIGKILL once its checkpoint has passed chunk killAt. It reports whether
// the child was killed (rather than finishing first).
func killChild(t *testing.T, spec Spec, resume bool, killAt int64) bool {
	t.Helper()
	return killChildIn(t, "", spec, resume, killAt)
}

// killChildIn is killChild for a run with work directory workDir.
func killChildIn(t *testing.T, workDir string, spec Spec, resume bool, killAt int64) bool {
	t.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SLUICE_BATCH_CHILD="+string(js), "SLUICE_BATCH_WORK_DIR="+workDir)
	if resume {
		cmd.Env = append(cmd.Env, "SLUICE_BATCH_RESUME=1")
	}
	var stderr safeBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cp := CheckpointPathIn(workDir, spec.Output)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, stderr.String())
			}
			return false
		default:
		}
		if c, _, err := ReadCheckpoint(cp); err == nil && c.State.Seq >= killAt {
			_ = cmd.Process.Kill()
			<-done
			return true
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Kill()
	t.Fatalf("child did not reach chunk %d in 30s", killAt)
	return false
}
