package predlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewRejects(t *testing.T) {
	sink := &memSink{}
	for _, tc := range []struct {
		name  string
		sinks []SinkOptions
		want  string
	}{
		{"no sinks", nil, "no sinks"},
		{"nil sink", []SinkOptions{{Name: "a"}}, "no Sink"},
		{"duplicate", []SinkOptions{{Name: "a", Sink: sink}, {Name: "a", Sink: sink}}, "used twice"},
		{"sample above 1", []SinkOptions{{Name: "a", Sink: sink, Sample: 1.5}}, "outside 0..1"},
		{"sample NaN", []SinkOptions{{Name: "a", Sink: sink, Sample: math.NaN()}}, "outside 0..1"},
		{"negative queue", []SinkOptions{{Name: "a", Sink: sink, QueueSize: -1}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{}, tc.sinks...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLogWritesInBatches(t *testing.T) {
	sink := &memSink{}
	l := mustNew(t, Options{}, SinkOptions{Name: "mem", Sink: sink, BatchSize: 10, FlushInterval: time.Hour})
	start(t, l)
	for i := range 25 {
		l.Log(Record{RequestID: fmt.Sprint(i), Endpoint: "e"})
	}
	// Two full batches go at once; the rest waits for the flush interval
	// or shutdown.
	waitFor(t, "two batches", func() bool { return len(sink.records()) == 20 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := sink.records()
	if len(got) != 25 {
		t.Fatalf("wrote %d records, want 25", len(got))
	}
	for i, r := range got {
		if r.RequestID != fmt.Sprint(i) || r.Time.IsZero() {
			t.Errorf("record %d = %+v, want id %d with a time", i, r, i)
		}
	}
	for _, b := range sink.batches {
		if len(b) > 10 {
			t.Errorf("batch of %d records, want at most 10", len(b))
		}
	}
	if !sink.closed {
		t.Error("sink not closed")
	}
}

func TestFlushInterval(t *testing.T) {
	sink := &memSink{}
	l := mustNew(t, Options{}, SinkOptions{Name: "mem", Sink: sink, FlushInterval: 10 * time.Millisecond})
	start(t, l)
	l.Log(Record{RequestID: "a"})
	waitFor(t, "the flush interval to write one record", func() bool { return len(sink.records()) == 1 })
}

// TestConcurrentLogCounts logs from many goroutines into a small queue
// whose sink is held, so that many records are dropped, and checks that
// every record is counted exactly once.
func TestConcurrentLogCounts(t *testing.T) {
	const goroutines, each = 16, 500
	gate := make(chan struct{})
	sink := &memSink{gate: gate}
	l := mustNew(t, Options{}, SinkOptions{Name: "mem", Sink: sink, QueueSize: 64, BatchSize: 16, FlushInterval: time.Millisecond})
	start(t, l)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				l.Log(Record{RequestID: fmt.Sprintf("%d-%d", g, i), Endpoint: "e"})
				if i%50 == 0 {
					select { // let a write through now and then
					case gate <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	close(gate)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()[0]
	if st.Written+st.Dropped != goroutines*each || st.Failed != 0 || st.Skipped != 0 {
		t.Errorf("written %d + dropped %d = %d (failed %d, skipped %d), want %d", st.Written, st.Dropped, st.Written+st.Dropped, st.Failed, st.Skipped, goroutines*each)
	}
	if st.Dropped == 0 {
		t.Error("nothing dropped; the test did not fill the queue")
	}
	if got := uint64(len(sink.records())); got != st.Written {
		t.Errorf("sink has %d records, Written says %d", got, st.Written)
	}
}

func TestLogNeverBlocksOnAStuckSink(t *testing.T) {
	sink := &memSink{gate: make(chan struct{})} // never opened
	l := mustNew(t, Options{DrainTimeout: 50 * time.Millisecond}, SinkOptions{Name: "stuck", Sink: sink, QueueSize: 8, BatchSize: 1})
	start(t, l)
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			l.Log(Record{RequestID: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked on a stuck sink")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()[0]
	// The queue's 8 records, and one more if the sink goroutine had taken
	// one into the stuck Write before the queue filled, fail when the drain
	// timeout runs out; the rest were dropped.
	if st.Dropped+st.Failed != 1000 || st.Failed < 8 || st.Failed > 9 || st.Written != 0 {
		t.Errorf("stats %+v, want 8 or 9 failed and the rest of 1000 dropped", st)
	}
}

func TestSamplingWithinBinomialBounds(t *testing.T) {
	const n = 100_000
	rates := []float64{0.5, 0.1, 0.01}
	var sinks []SinkOptions
	mems := make([]*memSink, len(rates))
	for i, rate := range rates {
		mems[i] = &memSink{}
		sinks = append(sinks, SinkOptions{Name: fmt.Sprint(rate), Sink: mems[i], Sample: rate, QueueSize: n})
	}
	l := mustNew(t, Options{Seed: 42}, sinks...)
	for i := range n {
		l.Log(Record{RequestID: fmt.Sprintf("req-%d", i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	kept := make([]map[string]bool, len(rates))
	for i, rate := range rates {
		st := l.Stats()[i]
		mean := n * rate
		sd := math.Sqrt(n * rate * (1 - rate))
		if got := float64(st.Written); math.Abs(got-mean) > 5*sd {
			t.Errorf("rate %v: kept %v of %d, want %v ± %.0f (5 sd)", rate, got, n, mean, 5*sd)
		}
		if st.Written+st.Skipped != n || st.Dropped != 0 {
			t.Errorf("rate %v: written %d + skipped %d != %d (dropped %d)", rate, st.Written, st.Skipped, n, st.Dropped)
		}
		kept[i] = map[string]bool{}
		for _, r := range mems[i].records() {
			kept[i][r.RequestID] = true
		}
	}
	// A sparser sample is a subset of a denser one.
	for i := 1; i < len(rates); i++ {
		for id := range kept[i] {
			if !kept[i-1][id] {
				t.Fatalf("%s kept at rate %v but not at %v", id, rates[i], rates[i-1])
			}
		}
	}
}

func TestWantsAgreesWithSampling(t *testing.T) {
	sink := &memSink{}
	l := mustNew(t, Options{Seed: 7}, SinkOptions{Name: "a", Sink: sink, Sample: 0.2, QueueSize: 10_000})
	want := map[string]bool{}
	for i := range 2000 {
		id := fmt.Sprint("id", i)
		if l.Wants(id) {
			want[id] = true
		}
		l.Log(Record{RequestID: id})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range sink.records() {
		got[r.RequestID] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Wants and Log disagree (-wants +logged):\n%s", diff)
	}
	if l.Wants("id1") {
		t.Error("Wants is true after Close")
	}
	var nilLogger *Logger
	nilLogger.Log(Record{}) // must not panic
	if nilLogger.Wants("x") || nilLogger.Close() != nil || nilLogger.Stats() != nil {
		t.Error("a nil Logger is not inert")
	}
}

// TestRequiredAppliesBackPressure holds a required sink's writes and
// checks that Log waits instead of dropping, then finishes once the sink
// moves again, with every record written.
func TestRequiredAppliesBackPressure(t *testing.T) {
	gate := make(chan struct{})
	required := &memSink{gate: gate}
	optional := &memSink{gate: make(chan struct{})} // stuck: must not slow anything
	l := mustNew(t, Options{DrainTimeout: time.Millisecond},
		SinkOptions{Name: "audit", Sink: required, Required: true, QueueSize: 4, BatchSize: 2, FlushInterval: time.Millisecond},
		SinkOptions{Name: "best-effort", Sink: optional, QueueSize: 4})
	start(t, l)
	const n = 100
	logged := make(chan int, n)
	go func() {
		for i := range n {
			l.Log(Record{RequestID: fmt.Sprint(i)})
			logged <- i
		}
		close(logged)
	}()
	// At most the queue (4) plus the batch held in Write (2) can be logged
	// while the sink is held.
	waitFor(t, "Log to block", func() bool { return l.Stats()[0].Waits > 0 || len(logged) > 6 })
	if len(logged) > 6 {
		t.Fatalf("%d records logged past a held required sink of queue 4, batch 2", len(logged))
	}
	close(gate)
	for range logged {
	}
	waitFor(t, "every record written", func() bool { return l.Stats()[0].Written == n })
	st := l.Stats()[0]
	if st.Dropped != 0 || st.Failed != 0 || st.Waits == 0 || st.WaitTime <= 0 {
		t.Errorf("required sink stats %+v, want none dropped or failed and some waits", st)
	}
	ids := map[string]bool{}
	for _, r := range required.records() {
		ids[r.RequestID] = true
	}
	if len(ids) != n {
		t.Errorf("required sink has %d distinct records, want %d", len(ids), n)
	}
}

func TestRequiredRetriesFailedWrites(t *testing.T) {
	sink := &memSink{failures: 2}
	l := mustNew(t, Options{}, SinkOptions{Name: "audit", Sink: sink, Required: true, FlushInterval: time.Millisecond})
	start(t, l)
	l.Log(Record{RequestID: "a"})
	waitFor(t, "the record written after two failures", func() bool { return l.Stats()[0].Written == 1 })
	if st := l.Stats()[0]; st.WriteErrors != 2 || st.Failed != 0 {
		t.Errorf("stats %+v, want 2 write errors and nothing failed", st)
	}
}

func TestOptionalSinkCountsFailures(t *testing.T) {
	sink := &memSink{failures: 1}
	l := mustNew(t, Options{}, SinkOptions{Name: "a", Sink: sink, BatchSize: 3})
	start(t, l)
	for i := range 6 {
		l.Log(Record{RequestID: fmt.Sprint(i)})
	}
	waitFor(t, "two batches", func() bool { st := l.Stats()[0]; return st.Written+st.Failed == 6 })
	if st := l.Stats()[0]; st.Failed != 3 || st.Written != 3 || st.WriteErrors != 1 {
		t.Errorf("stats %+v, want 3 failed, 3 written", st)
	}
}

func TestRedaction(t *testing.T) {
	in := []Value{Num("amount", 10, 20), Str("email", "a@x.io", "b@x.io"), Num("ssn", 123456789, 987654321), Str("country", "DE", "FR")}
	original := fmt.Sprint(in)
	for _, tc := range []struct {
		name  string
		key   []byte
		check func(t *testing.T, v Value)
	}{
		{"mask", nil, func(t *testing.T, v Value) {
			if diff := cmp.Diff([]string{Redacted, Redacted}, v.Str); diff != "" || v.Num != nil {
				t.Errorf("%s: %+v, want masked", v.Name, v)
			}
		}},
		{"hash", []byte("secret"), func(t *testing.T, v Value) {
			if len(v.Str) != 2 || len(v.Str[0]) != hashChars || v.Str[0] == v.Str[1] || v.Num != nil {
				t.Errorf("%s: %+v, want two different %d-digit hashes", v.Name, v, hashChars)
			}
			for _, s := range v.Str {
				if strings.Contains(s, "@") || strings.Contains(s, "12345") {
					t.Errorf("%s: hash %q shows the value", v.Name, s)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := &memSink{}, &memSink{}
			l := mustNew(t, Options{Redact: []string{"email", "ssn"}, RedactKey: tc.key},
				SinkOptions{Name: "a", Sink: a}, SinkOptions{Name: "b", Sink: b, Sample: 0.999999})
			for range 2 {
				l.Log(Record{RequestID: "r", Inputs: in})
			}
			l.Log(Record{RequestID: "clean", Inputs: []Value{Num("amount", 1)}})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(in) != original {
				t.Fatalf("Log changed the caller's inputs: %v", in)
			}
			for _, sink := range []*memSink{a, b} {
				recs := sink.records()
				if len(recs) != 3 {
					t.Fatalf("%d records, want 3", len(recs))
				}
				got := recs[0].Inputs
				if diff := cmp.Diff(in[0], got[0]); diff != "" {
					t.Errorf("amount changed: %s", diff)
				}
				if diff := cmp.Diff(in[3], got[3]); diff != "" {
					t.Errorf("country changed: %s", diff)
				}
				tc.check(t, got[1])
				tc.check(t, got[2])
				if diff := cmp.Diff(got, recs[1].Inputs); diff != "" {
					t.Errorf("the same values redacted differently: %s", diff)
				}
			}
		})
	}
}

func TestRunTwiceAndLogAfterClose(t *testing.T) {
	sink := &memSink{}
	l := mustNew(t, Options{}, SinkOptions{Name: "a", Sink: sink})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "Run to start", l.running.Load)
	if err := l.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
	l.Log(Record{RequestID: "before"})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.Log(Record{RequestID: "after"})
	if err := errors.Join(l.Close(), l.Close()); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats()[0]; st.Written != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 written, 1 dropped after close", st)
	}
}

// TestCloseWhileLogging closes the Logger while goroutines are logging:
// every record is still counted exactly once, written or dropped, and a
// required sink does not hang the shutdown.
func TestCloseWhileLogging(t *testing.T) {
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprint("required=", required), func(t *testing.T) {
			sink := &memSink{}
			l := mustNew(t, Options{DrainTimeout: time.Second}, SinkOptions{Name: "a", Sink: sink, Required: required, QueueSize: 32, BatchSize: 8})
			start(t, l)
			const goroutines, each = 8, 2000
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for i := range each {
						l.Log(Record{RequestID: fmt.Sprint(i)})
					}
				})
			}
			waitFor(t, "some records written", func() bool { return l.Stats()[0].Written > 0 })
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			st := l.Stats()[0]
			if st.Written+st.Dropped+st.Failed != goroutines*each {
				t.Errorf("written %d + dropped %d + failed %d != %d", st.Written, st.Dropped, st.Failed, goroutines*each)
			}
			if got := uint64(len(sink.records())); got != st.Written {
				t.Errorf("sink has %d records, Written says %d", got, st.Written)
			}
		})
	}
}

// TestLogAllocations holds Log to its budget: no allocation for a built
// record, one (the inputs' copy) when a feature is masked. The Logger is
// not running, so nothing else allocates meanwhile.
func TestLogAllocations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		redact []string
		want   float64
	}{
		{"plain", nil, 0},
		{"redaction configured, no match", []string{"ssn"}, 0},
		{"masked feature", []string{"email"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, Options{Redact: tc.redact},
				SinkOptions{Name: "a", Sink: &memSink{}, QueueSize: 1000},
				SinkOptions{Name: "b", Sink: &memSink{}, QueueSize: 1000, Sample: 0.5})
			rec := Record{RequestID: "id", Time: time.Now(), Endpoint: "e", Inputs: []Value{Num("amount", 1), Str("email", "a@b.c")}}
			if got := testing.AllocsPerRun(200, func() { l.Log(rec) }); got != tc.want {
				t.Errorf("Log allocates %v times, want %v", got, tc.want)
			}
		})
	}
}
