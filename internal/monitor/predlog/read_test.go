package predlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLog writes n records, one a minute from the clock's time, over
// segments of 5 lines, and returns the directory.
func writeLog(t *testing.T, n int, clock *fakeClock) string {
	t.Helper()
	dir := t.TempDir()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 5 * lineSize(0, clock), Now: clock.Now})
	for i := range n {
		r := record(i, clock.Now())
		if i%3 == 2 {
			r.Endpoint = "churn"
		}
		if err := s.Write(context.Background(), []Record{r}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ids(rs []Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.RequestID)
	}
	return strings.Join(out, " ")
}

func TestReadFilters(t *testing.T) {
	clock := newClock()
	t0 := clock.Now()
	dir := writeLog(t, 12, clock)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	for _, tc := range []struct {
		name   string
		filter Filter
		want   string
	}{
		{"all", Filter{}, "r-0000 r-0001 r-0002 r-0003 r-0004 r-0005 r-0006 r-0007 r-0008 r-0009 r-0010 r-0011"},
		{"endpoint", Filter{Endpoint: "churn"}, "r-0002 r-0005 r-0008 r-0011"},
		{"version", Filter{Endpoint: "fraud", Version: 2}, "r-0001 r-0003 r-0007 r-0009"},
		{"since inclusive", Filter{Since: at(9)}, "r-0009 r-0010 r-0011"},
		{"until exclusive", Filter{Until: at(2)}, "r-0000 r-0001"},
		{"window", Filter{Endpoint: "fraud", Since: at(3), Until: at(7)}, "r-0003 r-0004 r-0006"},
		{"limit", Filter{Endpoint: "fraud", Limit: 3}, "r-0000 r-0001 r-0003"},
		{"nothing", Filter{Endpoint: "nope"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(readAll(t, dir, tc.filter)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	rep, err := Read(context.Background(), dir, Filter{Limit: 3}, func(Record) error { return nil })
	if err != nil || !rep.Limited || rep.Records != 3 {
		t.Errorf("Read with limit: %+v, %v; want 3 records and Limited", rep, err)
	}
	rep, _ = Read(context.Background(), dir, Filter{Limit: 12}, func(Record) error { return nil })
	if rep.Limited {
		t.Error("Limited set when the limit was exactly the number of records")
	}
}

func TestReadSkipsSegmentsOlderThanSince(t *testing.T) {
	clock := newClock()
	dir := writeLog(t, 12, clock)
	names, _ := segments(t, dir)
	old := time.Now().Add(-24 * time.Hour)
	for _, n := range names[:2] { // the first 10 records
		os.Chtimes(filepath.Join(dir, n), old, old)
	}
	var got []Record
	rep, err := Read(context.Background(), dir, Filter{Since: time.Now().Add(-time.Hour)}, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// The records' times are all long ago, so the filter would pass none:
	// the point is that only the last segment was opened.
	if rep.Segments != 1 {
		t.Errorf("opened %d segments, want 1 (last written after Since - ClockSlack)", rep.Segments)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	dir := writeLog(t, 4, newClock())
	stop := errors.New("stop")
	n := 0
	_, err := Read(context.Background(), dir, Filter{}, func(Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Read = %v after %d records, want the callback's error after 1", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, dir, Filter{}, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: %v", err)
	}
	if _, err := Read(context.Background(), filepath.Join(dir, "missing"), Filter{}, nil); err == nil {
		t.Error("Read of a missing directory: no error")
	}
}

// TestReadAfterCrash cuts the last segment in the middle of its last line,
// as a crash during a write would, and puts garbage in the middle of
// another: Read skips both lines, reports them, and reads the rest.
func TestReadAfterCrash(t *testing.T) {
	clock := newClock()
	dir := writeLog(t, 12, clock)
	names, sizes := segments(t, dir)
	last := filepath.Join(dir, names[len(names)-1])
	if err := os.Truncate(last, sizes[len(sizes)-1]-7); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, names[0])
	data, _ := os.ReadFile(first)
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = "\x00\x00\x00{\"id\":\n"
	os.WriteFile(first, []byte(strings.Join(lines, "")), 0o600)

	var got []Record
	rep, err := Read(context.Background(), dir, Filter{}, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := "r-0000 r-0002 r-0003 r-0004 r-0005 r-0006 r-0007 r-0008 r-0009 r-0010"; ids(got) != want {
		t.Errorf("read %s\nwant %s", ids(got), want)
	}
	if rep.Skipped != 2 || len(rep.Corrupt) != 2 {
		t.Fatalf("report %+v, want 2 skipped lines", rep)
	}
	if c := rep.Corrupt[0]; c.Segment != names[0] || c.Line != 2 || c.Offset != int64(len(lines[0])) {
		t.Errorf("first corrupt line reported as %v, want %s line 2 at byte %d", &c, names[0], len(lines[0]))
	}
	if c := rep.Corrupt[1]; c.Segment != names[len(names)-1] || c.Line != 2 || !errors.Is(&c, ErrPartialLine) {
		t.Errorf("cut line reported as %v, want %s line 2: %v", &c, names[len(names)-1], ErrPartialLine)
	}
}

func TestReadSkipsLongLines(t *testing.T) {
	defer func(n int) { maxLineBytes = n }(maxLineBytes)
	maxLineBytes = 1000
	dir := t.TempDir()
	r := record(1, time.Now())
	long := record(2, time.Now())
	long.Inputs = []Value{Str("text", strings.Repeat("x", 200_000))} // beyond bufio's buffer too
	var b []byte
	for _, r := range []Record{r, long, r} {
		b = append(AppendJSON(b, &r), '\n')
	}
	os.WriteFile(filepath.Join(dir, segmentName(1)), b, 0o600)
	var got []Record
	rep, err := Read(context.Background(), dir, Filter{}, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || rep.Skipped != 1 || !errors.Is(&rep.Corrupt[0], ErrLongLine) || rep.Corrupt[0].Line != 2 {
		t.Errorf("read %d records, report %+v; want 2 records and line 2 too long", len(got), rep)
	}
}

// TestReadWhileWriting reads a directory while a FileSink writes and
// rotates there: reading never fails, and the only line it may skip is
// the one being written.
func TestReadWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 2 << 10, MaxBytes: 16 << 10})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			s.Write(context.Background(), []Record{record(i, time.Now()), record(i, time.Now())})
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		rep, err := Read(context.Background(), dir, Filter{}, func(Record) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Corrupt {
			if !errors.Is(&c, ErrPartialLine) {
				t.Errorf("skipped %v while writing; want only a partial last line", &c)
			}
		}
	}
}
