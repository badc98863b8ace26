package predlog

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
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

// fp32Calls returns n calls like the gateway's for a model of one [1, 8]
// FP32 input and a [1] FP32 output, with values of every magnitude a
// feature may have.
func fp32Calls(n int) (inputs, outputs [][]inference.Tensor) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs, outputs = make([][]inference.Tensor, n), make([][]inference.Tensor, n)
	for i := range inputs {
		x := make([]float32, 8)
		x[0] = float32(rng.IntN(100))                   // a count
		x[1] = float32(rng.IntN(2))                     // a flag
		x[2] = float32(rng.IntN(100000)) / 100          // an amount in cents
		x[3] = rng.Float32()                            // a ratio
		x[4] = float32(rng.NormFloat64())               // a standardized value
		x[5] = float32(rng.ExpFloat64() * 1000)         // a heavy tail
		x[6] = float32(rng.NormFloat64() * 1e-3)        // a small value
		x[7] = float32(rng.IntN(1_000_000_000)) * 1e-12 // a tiny one
		inputs[i] = []inference.Tensor{{Name: "input-0", Datatype: inference.FP32, Shape: []int64{1, 8}, F32: x}}
		outputs[i] = []inference.Tensor{{Name: "p", Datatype: inference.FP32, Shape: []int64{1}, F32: []float32{rng.Float32()}}}
	}
	return inputs, outputs
}

// BenchmarkAppendJSONFP32 encodes the record of a call with FP32 tensors.
func BenchmarkAppendJSONFP32(b *testing.B) {
	inputs, outputs := fp32Calls(1024)
	recs := make([]Record, len(inputs))
	for i := range recs {
		recs[i] = benchRecord()
		recs[i].Inputs, recs[i].Outputs = FromCall(inputs[i], nil, outputs[i])
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = AppendJSON(buf[:0], &recs[i%len(recs)])
		i++
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordToFile is a record's whole way to a segment file, as the
// gateway logs a call of FP32 tensors: FromCall, Log, and the sink
// goroutine's batching, encoding and writing, which Close waits for. The
// sink is required, so that no record is dropped. The sink's work runs on
// another goroutine, so besides the time per record it reports the CPU
// time of the whole process per record (cpu-ns/op), collection included.
func BenchmarkRecordToFile(b *testing.B) {
	inputs, outputs := fp32Calls(1024)
	ids := make([]string, len(inputs))
	for i := range ids {
		ids[i] = "c670bb14-" + strconv.Itoa(i)
	}
	s, err := NewFileSink(FileOptions{Dir: b.TempDir(), SegmentBytes: 16 << 20, MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	l, err := New(Options{}, SinkOptions{Name: "file", Sink: s, Required: true})
	if err != nil {
		b.Fatal(err)
	}
	go l.Run(context.Background())
	b.ReportAllocs()
	runtime.GC()
	cpu := cpuTime(b)
	i := 0
	for b.Loop() {
		k := i % len(inputs)
		rec := Record{RequestID: ids[k], Time: time.Now(), Endpoint: "m", Version: 1, Role: "stable", LatencyNS: 81200}
		rec.Inputs, rec.Outputs = FromCall(inputs[k], nil, outputs[k])
		l.Log(rec)
		i++
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	if st := l.Stats()[0]; st.Written != uint64(b.N) {
		b.Fatalf("%d records written of %d: %+v", st.Written, b.N, st)
	}
}

// BenchmarkFromCall copies the tensors of a call as the gateway does for
// a model of one [1, 8] FP32 input and a [1] FP32 output.
func BenchmarkFromCall(b *testing.B) {
	inputs, outputs := fp32Calls(64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(inputs)
		sinkIn, sinkOut = FromCall(inputs[k], nil, outputs[k])
		i++
	}
}

// sinkIn and sinkOut keep the benchmarks' results alive.
var sinkIn, sinkOut []Value

// BenchmarkLogCall is the request's part of logging a call of FP32
// tensors, as the gateway does it: the record built and queued for a
// sink that discards it. Besides the time per record it reports the CPU
// time of the whole process per record (cpu-ns/op), the sink's goroutine
// and collection included.
func BenchmarkLogCall(b *testing.B) {
	l := benchLogger(b, Options{}, SinkOptions{Name: "file"})
	inputs, outputs := fp32Calls(64)
	now := time.Now()
	b.ReportAllocs()
	runtime.GC()
	cpu := cpuTime(b)
	i := 0
	for b.Loop() {
		k := i % len(inputs)
		rec := Record{RequestID: "0123456789abcdef", Time: now, Endpoint: "m", Version: 1, Role: "stable", LatencyNS: 81200}
		rec.Inputs, rec.Outputs = FromCall(inputs[k], nil, outputs[k])
		l.Log(rec)
		i++
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkAppendFloatFP32 writes the numbers of BenchmarkAppendJSONFP32's
// records, one per op.
func BenchmarkAppendFloatFP32(b *testing.B) {
	inputs, outputs := fp32Calls(1024)
	var xs []float64
	for i := range inputs {
		for _, x := range append(inputs[i][0].F32, outputs[i][0].F32...) {
			xs = append(xs, float64(x))
		}
	}
	buf := make([]byte, 0, 1024)
	i := 0
	for b.Loop() {
		if len(buf) > 1000 {
			buf = buf[:0]
		}
		buf = appendFloat(buf, xs[i%len(xs)])
		i++
	}
}
