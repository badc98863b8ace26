package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
)

const fixtureDir = "../../examples/xgboost"

// loadModel loads the breast_cancer XGBoost fixture, one thread per call
// (the pipeline runs calls in parallel).
func loadModel(t testing.TB) inference.Model { return loadModelThreads(t, 1) }

// loadModelThreads loads the fixture with threads goroutines per call
// (0: GOMAXPROCS).
func loadModelThreads(t testing.TB, threads int) inference.Model {
	b, err := os.ReadFile(filepath.Join(fixtureDir, "breast_cancer.json"))
	if err == nil {
		var m inference.Model
		if m, err = (xgboost.Format{}).Load(context.Background(), b, inference.LoadOptions{Threads: threads}); err == nil {
			return m
		}
	}
	if t == nil {
		panic(err)
	}
	t.Fatal(err)
	return nil
}

// expected returns XGBoost's own predictions for the fixture rows.
func expected(t testing.TB) []float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "breast_cancer.expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Predictions []float64 `json:"predictions"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e.Predictions
}

// fixtureWithID writes the fixture CSV with an id column first (id = row
// index + 1000), repeated times times, and returns its path.
func fixtureWithID(t testing.TB, dir string, times int) string {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, "breast_cancer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	path := filepath.Join(dir, "in.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "id,%s\n", lines[0])
	n := 0
	for range times {
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%d,%s\n", 1000+n, l)
			n++
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return path
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// safeBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// expectedRows returns the fixture's feature rows, row-major.
func expectedRows(t testing.TB) []float32 {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, "breast_cancer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	var x []float32
	for sc.Scan() {
		for _, s := range strings.Split(sc.Text(), ",") {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, float32(v))
		}
	}
	return x
}
