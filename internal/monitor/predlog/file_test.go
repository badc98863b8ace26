package predlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func record(i int, at time.Time) Record {
	return Record{RequestID: fmt.Sprintf("r-%04d", i), Time: at, Endpoint: "fraud", Version: 1 + i%2, Role: "stable", Inputs: []Value{Num("amount", float64(1000+i))}, LatencyNS: 1000}
}

// lineSize is the encoded size, newline included, of record(i, clock time).
func lineSize(i int, c *fakeClock) int64 {
	r := record(i, c.Now())
	return int64(len(AppendJSON(nil, &r)) + 1)
}

func newFileSink(t *testing.T, opts FileOptions) *FileSink {
	t.Helper()
	s, err := NewFileSink(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// segments returns the segment files in dir and their sizes.
func segments(t *testing.T, dir string) (names []string, sizes []int64) {
	t.Helper()
	names, err := segmentNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	return names, sizes
}

// readAll reads every record in dir, failing on corrupt lines.
func readAll(t *testing.T, dir string, f Filter) []Record {
	t.Helper()
	var out []Record
	rep, err := Read(context.Background(), dir, f, func(r Record) error { out = append(out, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 0 {
		t.Fatalf("skipped %d lines: %v", rep.Skipped, rep.Corrupt)
	}
	return out
}

func TestFileRotatesBySize(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	line := lineSize(0, clock)
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 3 * line, Now: clock.Now})
	var batch []Record
	for i := range 10 {
		batch = append(batch, record(i, clock.Now()))
	}
	if err := s.Write(context.Background(), batch[:4]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), batch[4:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	names, sizes := segments(t, dir)
	if len(names) != 4 {
		t.Fatalf("segments %v, want 4 of at most 3 lines", names)
	}
	for i, size := range sizes {
		if want := min(3, 10-3*int64(i)) * line; size != want {
			t.Errorf("segment %d has %d bytes, want %d", i, size, want)
		}
	}
	got := readAll(t, dir, Filter{})
	if len(got) != 10 {
		t.Fatalf("read %d records, want 10", len(got))
	}
	for i, r := range got {
		if r.RequestID != batch[i].RequestID {
			t.Errorf("record %d is %s, want %s", i, r.RequestID, batch[i].RequestID)
		}
	}
}

func TestFileSegmentHoldsAnOversizedLine(t *testing.T) {
	dir := t.TempDir()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 10})
	if err := s.Write(context.Background(), []Record{record(0, time.Now()), record(1, time.Now())}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if names, _ := segments(t, dir); len(names) != 2 {
		t.Errorf("segments %v, want one line each", names)
	}
}

func TestFileRotatesByAge(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentAge: time.Hour, Now: clock.Now})
	ctx := context.Background()
	write := func(i int) {
		t.Helper()
		if err := s.Write(ctx, []Record{record(i, clock.Now())}); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	clock.Advance(59 * time.Minute)
	write(1)
	if names, _ := segments(t, dir); len(names) != 1 {
		t.Fatalf("segments %v after 59 minutes, want 1", names)
	}
	clock.Advance(time.Minute)
	write(2)
	if names, _ := segments(t, dir); len(names) != 2 {
		t.Fatalf("segments %v after an hour, want 2", names)
	}
	// With no writes, Maintain closes a segment that has grown old.
	clock.Advance(2 * time.Hour)
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	write(3)
	names, _ := segments(t, dir)
	if len(names) != 3 {
		t.Fatalf("segments %v, want 3", names)
	}
	want := []string{segmentName(clock.t.Add(-3 * time.Hour).UnixNano()), segmentName(clock.t.Add(-2 * time.Hour).UnixNano()), segmentName(clock.t.UnixNano())}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("segment names %v, want %v (creation times)", names, want)
	}
}

func TestFileRetentionBySizeDeletesOldest(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	line := lineSize(0, clock)
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 2 * line, MaxBytes: 5 * line, Now: clock.Now})
	for i := range 12 {
		if err := s.Write(context.Background(), []Record{record(i, clock.Now())}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second) // whole seconds: every line has the same size
	}
	s.Close()
	names, sizes := segments(t, dir)
	var total int64
	for _, n := range sizes {
		total += n
	}
	if total > 5*line {
		t.Errorf("segments total %d bytes, over MaxBytes %d", total, 5*line)
	}
	got := readAll(t, dir, Filter{})
	if len(got) == 0 || got[len(got)-1].RequestID != "r-0011" {
		t.Fatalf("read %v, want the newest records kept", got)
	}
	// What is left is the newest, without gaps.
	first := 12 - len(got)
	for i, r := range got {
		if want := record(first+i, time.Time{}).RequestID; r.RequestID != want {
			t.Errorf("record %d is %s, want %s", i, r.RequestID, want)
		}
	}
	if len(names) != 2 || first != 8 {
		t.Errorf("kept segments %v with records from %d, want the last 2 (records 8..11)", names, first)
	}
}

func TestFileRetentionByAge(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentAge: time.Hour, MaxAge: 3 * time.Hour, Now: clock.Now})
	for i := range 6 {
		if err := s.Write(context.Background(), []Record{record(i, clock.Now())}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir, Filter{})
	// Record i was written at hour i, each in its own segment; at hour 6,
	// the segments last written more than 3 hours ago are gone.
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RequestID)
	}
	if want := "r-0003 r-0004 r-0005"; strings.Join(ids, " ") != want {
		t.Errorf("kept %v, want %s", ids, want)
	}
}

func TestFileReopenKeepsOldSegmentsAndAppliesRetention(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	line := lineSize(0, clock)
	for round := range 3 {
		s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: line, MaxBytes: 2 * line, Now: clock.Now})
		if err := s.Write(context.Background(), []Record{record(round, clock.Now())}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Each open begins a new segment, even at the same clock time; the
	// third open found 2 segments, and room for 1 of them beside a full
	// new segment.
	names, _ := segments(t, dir)
	if len(names) != 2 {
		t.Fatalf("segments %v, want 2", names)
	}
	if got := readAll(t, dir, Filter{}); len(got) != 2 || got[0].RequestID != "r-0001" || got[1].RequestID != "r-0002" {
		t.Errorf("read %v, want r-0001, r-0002", got)
	}
	// Files that are not segments are left alone.
	other := filepath.Join(dir, "README")
	os.WriteFile(other, []byte("hi"), 0o600)
	s := newFileSink(t, FileOptions{Dir: dir, MaxBytes: 1, Now: clock.Now})
	s.Close()
	if _, err := os.Stat(other); err != nil {
		t.Errorf("retention touched a file that is not a segment: %v", err)
	}
}

func TestFileWriteAfterClose(t *testing.T) {
	s := newFileSink(t, FileOptions{Dir: t.TempDir()})
	s.Close()
	if err := s.Write(context.Background(), []Record{{}}); err != ErrClosed {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

// TestFileSinkUnderLogger runs a FileSink behind a Logger with rotation,
// from several goroutines, and reads everything back.
func TestFileSinkUnderLogger(t *testing.T) {
	dir := t.TempDir()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 4 << 10})
	l := mustNew(t, Options{}, SinkOptions{Name: "file", Sink: s, Required: true, QueueSize: 64, BatchSize: 32})
	start(t, l)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				l.Log(record(g*1000+i, time.Now()))
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, dir, Filter{}); len(got) != 1000 {
		t.Errorf("read %d records, want 1000", len(got))
	}
	if names, _ := segments(t, dir); len(names) < 10 {
		t.Errorf("%d segments, want rotation at 4 KiB", len(names))
	}
}
