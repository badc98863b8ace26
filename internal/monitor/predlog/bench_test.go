package predlog

import (
	"context"
	"testing"
	"time"
)

// discard is a sink that accepts everything at once.
type discard struct{}

func (discard) Write(context.Context, []Record) error { return nil }
func (discard) Close() error                          { return nil }

// benchRecord is a record as the gateway builds it for a request of one
// row of 8 named features.
func benchRecord() Record {
	return Record{
		RequestID: "0123456789abcdef0123456789abcdef",
		Time:      time.Now(),
		Endpoint:  "fraud",
		Version:   3,
		Role:      "stable",
		Inputs: []Value{
			Num("amount", 12.5), Num("age", 41), Num("tenure", 3), Num("balance", 1024.25),
			Str("country", "DE"), Str("email", "a@example.com"), Num("score", 0.5), Num("items", 2),
		},
		Outputs:   []Value{{Name: "probability", Datatype: "FP64", Shape: []int64{1, 1}, Num: []float64{0.93}}},
		LatencyNS: 81200,
	}
}

func benchLogger(b *testing.B, opts Options, sinks ...SinkOptions) *Logger {
	b.Helper()
	for i := range sinks {
		sinks[i].Sink = discard{}
	}
	l, err := New(opts, sinks...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return l
}

// BenchmarkLog is the hot path: one record, already built, to one sink.
func BenchmarkLog(b *testing.B) {
	l := benchLogger(b, Options{}, SinkOptions{Name: "file"})
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(rec)
	}
}

// BenchmarkLogParallel logs from GOMAXPROCS goroutines.
func BenchmarkLogParallel(b *testing.B) {
	l := benchLogger(b, Options{}, SinkOptions{Name: "file"})
	rec := benchRecord()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(rec)
		}
	})
}

// BenchmarkLogThreeSinks logs to a file, a sampled webhook and a required
// sink, with one redacted feature.
func BenchmarkLogThreeSinks(b *testing.B) {
	l := benchLogger(b, Options{Redact: []string{"email", "ssn"}},
		SinkOptions{Name: "file"}, SinkOptions{Name: "hook", Sample: 0.1}, SinkOptions{Name: "audit", Required: true})
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(rec)
	}
}

// BenchmarkLogRedactHash hashes the redacted feature instead of masking it.
func BenchmarkLogRedactHash(b *testing.B) {
	l := benchLogger(b, Options{Redact: []string{"email"}, RedactKey: []byte("secret")}, SinkOptions{Name: "file"})
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(rec)
	}
}

// BenchmarkLogSampledOut is a request no sink samples.
func BenchmarkLogSampledOut(b *testing.B) {
	l := benchLogger(b, Options{}, SinkOptions{Name: "file", Sample: 1e-9})
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(rec)
	}
}

// BenchmarkAppendJSON is the sinks' encoding cost per record.
func BenchmarkAppendJSON(b *testing.B) {
	rec := benchRecord()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &rec)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkFileSinkWrite writes batches of 256 records to segment files.
func BenchmarkFileSinkWrite(b *testing.B) {
	s, err := NewFileSink(FileOptions{Dir: b.TempDir(), MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]Record, 256)
	for i := range batch {
		batch[i] = benchRecord()
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
