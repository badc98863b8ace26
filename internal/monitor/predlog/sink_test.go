package predlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sinkUnderTest makes a sink and reads back what it stored.
type sinkUnderTest struct {
	name     string
	open     func(t *testing.T) Sink
	readBack func(t *testing.T) []Record // after Close
}

// TestSinkConformance holds every Sink in this package to the interface's
// contract: batches stored in order with their content, empty batches
// accepted, Close idempotent, writes after Close failing with ErrClosed.
func TestSinkConformance(t *testing.T) {
	dir := t.TempDir()
	hook := &collector{}
	var suts = []sinkUnderTest{
		{"file", func(t *testing.T) Sink { return newFileSink(t, FileOptions{Dir: dir, SegmentBytes: 1 << 10}) },
			func(t *testing.T) []Record { return readAll(t, dir, Filter{}) }},
		{"webhook", func(t *testing.T) Sink { w, _ := newWebhook(t, hook, WebhookOptions{}); return w },
			func(t *testing.T) []Record { return hook.records() }},
	}
	for _, sut := range suts {
		t.Run(sut.name, func(t *testing.T) {
			s := sut.open(t)
			ctx := context.Background()
			var want []Record
			at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
			for b := range 5 {
				var batch []Record
				for i := range b * 3 {
					r := sampleRecord()
					r.RequestID = record(b*100+i, at).RequestID
					batch = append(batch, r)
				}
				if err := s.Write(ctx, batch); err != nil {
					t.Fatalf("Write batch %d: %v", b, err)
				}
				want = append(want, batch...)
			}
			if err := errors.Join(s.Close(), s.Close()); err != nil {
				t.Fatalf("Close twice: %v", err)
			}
			if err := s.Write(ctx, []Record{{}}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if diff := cmp.Diff(want, sut.readBack(t), recordOpts); diff != "" {
				t.Errorf("stored records (-want +got):\n%s", diff)
			}
		})
	}
}
