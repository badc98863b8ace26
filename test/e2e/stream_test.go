package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/stream"
	"github.com/sluicehq/sluice/internal/stream/broker"
	"github.com/sluicehq/sluice/internal/stream/brokertest"
)

// TestStreamSurvivesKill runs a NATS stream in a sluice server, kills the
// server (SIGKILL) while messages are flowing, publishes more while it is
// down, starts it again on the same data directory, and checks that every
// input has a result: at least once, nothing skipped.
func TestStreamSurvivesKill(t *testing.T) {
	nats := brokertest.Addr(t, "nats")
	root := repoRoot(t)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--stream-ack-wait", "2s"}
	s := startServer(t, args...)
	s.Token = readToken(t, dataDir)
	s.cli(t, "model", "push", "bc", filepath.Join(root, "examples/xgboost/breast_cancer.json"))
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	in := "nats://" + nats + "/" + brokertest.Topic(t, "kill.in")
	out := "nats://" + nats + "/" + brokertest.Topic(t, "kill.out")
	s.cli(t, "stream", "create", "kill", "--source", in, "--endpoint", "bc", "--sink", out, "--key-field", "id", "--id-field", "id", "--batch", "20")

	rows := fixtureRows(t, root)
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sink, err := broker.OpenSink(ctx, in, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	reader, err := broker.OpenSource(ctx, out, broker.Options{Group: "e2e-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	var mu sync.Mutex
	results := map[string]int{}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(results)
	}
	readerDone := make(chan error, 1)
	go func() {
		for ctx.Err() == nil && count() < n {
			msgs, err := reader.Fetch(ctx, 500, 500*time.Millisecond)
			if err != nil {
				readerDone <- err
				return
			}
			mu.Lock()
			for _, m := range msgs {
				var o stream.Output
				if err := json.Unmarshal(m.Value, &o); err != nil {
					mu.Unlock()
					readerDone <- fmt.Errorf("result %s: %w", m.Value, err)
					return
				}
				results[o.Key]++
			}
			mu.Unlock()
			if err := reader.Ack(ctx, msgs); err != nil {
				readerDone <- err
				return
			}
		}
		readerDone <- nil
	}()

	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i += 50 {
			var recs []broker.Record
			for j := i; j < min(i+50, to); j++ {
				row := rows[j%len(rows)]
				row["id"] = "tx-" + strconv.Itoa(j)
				b, _ := json.Marshal(row)
				recs = append(recs, broker.Record{Value: b})
			}
			if err := sink.Publish(ctx, recs); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	publish(0, n/2)
	// Kill the server as soon as results flow, in the middle of the input.
	deadline := time.Now().Add(30 * time.Second)
	for count() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := count()
	if before == 0 {
		t.Fatalf("no results within 30s\n%s", s.logs.all.String())
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
	publish(n/2, n)
	t.Logf("killed the server after %d results; restarting", before)
	s2 := startServer(t, args...)
	s2.Token = s.Token

	select {
	case err := <-readerDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	missing, dups := 0, 0
	for i := 0; i < n; i++ {
		c := results["tx-"+strconv.Itoa(i)]
		if c == 0 {
			missing++
		}
		if c > 1 {
			dups += c - 1
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d inputs have no result after the kill and restart", missing, n)
	}
	t.Logf("%d inputs, %d results before the kill, %d duplicates delivered (at least once)", n, before, dups)
	if len(results) != n {
		t.Errorf("%d distinct results, want %d", len(results), n)
	}
}

func readToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// fixtureRows reads the breast_cancer CSV as JSON objects.
func fixtureRows(t *testing.T, root string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples/xgboost/breast_cancer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	cols := strings.Split(lines[0], ",")
	var rows []map[string]any
	for _, l := range lines[1:] {
		r := map[string]any{}
		for j, v := range strings.Split(l, ",") {
			x, _ := strconv.ParseFloat(v, 64)
			r[cols[j]] = x
		}
		rows = append(rows, r)
	}
	return rows
}

// TestWindowedStreamOnServer runs a windowed stream scoring a model (not
// an endpoint) in a server: the per-card counts reach the model, survive
// a restart of the server through the store's checkpoint, and pause and
// resume work from the CLI.
func TestWindowedStreamOnServer(t *testing.T) {
	nats := brokertest.Addr(t, "nats")
	root := repoRoot(t)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir}
	s := startServer(t, args...)
	s.Token = readToken(t, dataDir)
	s.cli(t, "model", "push", "bc", filepath.Join(root, "examples/xgboost/breast_cancer.json"))
	in := "nats://" + nats + "/" + brokertest.Topic(t, "win.in")
	out := "nats://" + nats + "/" + brokertest.Topic(t, "win.out")
	s.cli(t, "stream", "create", "win", "--source", in, "--model", "bc@1", "--sink", out, "--key-field", "card", "--id-field", "id",
		"--time-field", "ts", "--window", "tumbling:1h", "--agg", "count:n_tx", "--agg", "mean:mean_radius:mean_texture")
	rows := fixtureRows(t, root)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sink, err := broker.OpenSink(ctx, in, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	publish := func(from, to int) {
		var recs []broker.Record
		for i := from; i < to; i++ {
			r := rows[i]
			r["id"], r["card"], r["ts"] = "tx-"+strconv.Itoa(i), "card-"+strconv.Itoa(i%3), base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339)
			b, _ := json.Marshal(r)
			recs = append(recs, broker.Record{Value: b})
		}
		if err := sink.Publish(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := broker.OpenSource(ctx, out, broker.Options{Group: "e2e-win-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	read := func(n int) map[string]stream.Output {
		got := map[string]stream.Output{}
		for len(got) < n {
			msgs, err := reader.Fetch(ctx, n, 500*time.Millisecond)
			if err != nil {
				t.Fatalf("reading results: %d of %d: %v", len(got), n, err)
			}
			for _, m := range msgs {
				var o stream.Output
				if err := json.Unmarshal(m.Value, &o); err != nil {
					t.Fatal(err)
				}
				got[o.ID] = o
			}
			_ = reader.Ack(ctx, msgs)
		}
		return got
	}
	publish(0, 12)
	got := read(12)
	for i := 0; i < 12; i++ {
		o := got["win-tx-"+strconv.Itoa(i)]
		if o.Model != "bc@1" || o.Version != 1 || o.Window["n_tx"] != float64(i/3+1) {
			t.Errorf("tx-%d: %+v, want model bc@1 and n_tx %d", i, o, i/3+1)
		}
	}
	s.cli(t, "stream", "pause", "win")
	if show := s.cli(t, "stream", "show", "win"); !strings.Contains(show, "paused: true") {
		t.Errorf("show after pause:\n%s", show)
	}
	s.cli(t, "stream", "resume", "win")
	s.stop(t)
	s2 := startServer(t, args...)
	s2.Token = s.Token
	publish(12, 15)
	got = read(3)
	for i := 12; i < 15; i++ {
		if o := got["win-tx-"+strconv.Itoa(i)]; o.Window["n_tx"] != 5 {
			t.Errorf("after the restart, tx-%d: n_tx %v, want 5 (4 before the restart + itself)", i, o.Window["n_tx"])
		}
	}
	var list []struct {
		Status *stream.Status `json:"status"`
	}
	s2.cliJSON(t, &list, "stream", "list")
	if len(list) != 1 || list[0].Status == nil || list[0].Status.Out < 3 {
		t.Errorf("stream list: %+v", list)
	}
}
