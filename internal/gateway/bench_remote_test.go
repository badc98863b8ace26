package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/remote"
	"github.com/sluicehq/sluice/internal/leanhttp"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/predlog"
	"github.com/sluicehq/sluice/internal/traffic"
)

// harnessBody is the request the peer harness sends (configs/infer.lua).
const harnessBody = `{"id":"bench-000001","inputs":[{"name":"input-0","shape":[1,8],"datatype":"FP32","data":[0.125,0.25,0.375,0.5,0.625,0.75,0.875,1.0]}],"outputs":[{"name":"p"}],"parameters":{"priority":1,"tag":"gw"}}`

// harnessAnswer is what the harness's model server answers.
const harnessAnswer = `{"model_name":"m","model_version":"1","outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[0.42]}]}`

// rawHTTPServer answers every HTTP/1.1 request on its kept-alive
// connections with answer, allocating nothing per request, so that a
// benchmark's allocations are those of the code under test.
func rawHTTPServer(tb testing.TB, answer string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(answer)) + "\r\n\r\n" + answer)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r := bufio.NewReaderSize(nc, 8<<10)
				for {
					n, err := readRawRequest(r)
					if err != nil {
						return
					}
					if _, err := r.Discard(n); err != nil {
						return
					}
					if _, err := nc.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readRawRequest reads a request or response head from r and returns
// its Content-Length.
func readRawRequest(r *bufio.Reader) (int, error) {
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			return n, nil
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n = 0
			for _, c := range bytes.TrimSpace(v) {
				n = n*10 + int(c-'0')
			}
		}
	}
}

// BenchmarkHarnessRequestLean serves the peer harness's request (an id,
// requested outputs, request parameters) through the lean HTTP/1.1 loop
// to a 95/5 canary of two external OIP v2 model servers, with the live
// counters, the request memory for feedback and the prediction log on,
// as `sluice server` runs in the gateway comparison. The client and the
// model servers allocate nothing per request, so allocs/op are the
// gateway's own.
func BenchmarkHarnessRequestLean(b *testing.B) {
	addr := harnessGateway(b, 0)
	roundTrip := harnessClient(b, addr)
	if err := roundTrip(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHarnessRequestLeanPipelined is BenchmarkHarnessRequestLean with
// the versions pushed with --pipeline 16 and 32 connections at once, as
// the gateway comparison runs with SLUICE_PIPELINE=16: concurrent calls
// to a version share pipelines to its model server.
func BenchmarkHarnessRequestLeanPipelined(b *testing.B) {
	addr := harnessGateway(b, 16)
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		roundTrip := harnessClient(b, addr)
		for pb.Next() {
			if err := roundTrip(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// harnessGateway serves a 95/5 canary of two external OIP v2 model
// servers (documents with the given pipeline) through the lean HTTP/1.1
// loop, with the live counters, the request memory for feedback and the
// prediction log on, as `sluice server` runs in the gateway comparison,
// and returns its address. The model servers allocate nothing per
// request, so allocs/op are the gateway's own.
func harnessGateway(b *testing.B, pipeline int) string {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	backends := map[int]*Backend{}
	for v := 1; v <= 2; v++ {
		addr := rawHTTPServer(b, harnessAnswer)
		rd := remote.Document{URLs: []string{"http://" + addr + "/v2/models/m"}, Pipeline: pipeline, Signature: &inference.Signature{
			Inputs:  []inference.TensorSpec{{Name: "input-0", Datatype: inference.FP32, Shape: []int64{-1, 8}}},
			Outputs: []inference.TensorSpec{{Name: "p", Datatype: inference.FP32, Shape: []int64{-1}}},
		}}
		doc, err := rd.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		m, err := remote.Format{}.Load(ctx, doc, inference.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.(io.Closer).Close() })
		backends[v] = NewBackend("m", v, "http", m, nil)
	}
	plan, err := traffic.Compile(traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 95}, {Version: 2, Weight: 5}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pl, err := predlog.New(predlog.Options{}, predlog.SinkOptions{Name: "discard", Sink: discardSink{}})
	if err != nil {
		b.Fatal(err)
	}
	go pl.Run(ctx)
	g := New(Options{Live: monitor.NewLive(), Comparison: monitor.NewComparison(), Outcomes: monitor.NewOutcomes(),
		Recent: monitor.NewRecent(100000, time.Hour), PredLog: pl})
	g.Swap(&Snapshot{Revision: 1, Endpoints: map[string]*Endpoint{"m": {Name: "m", Model: "m", Plan: plan, Backends: backends}}})
	go g.Run(ctx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	lean := leanhttp.New(g, leanhttp.Options{MaxBodyBytes: g.MaxBodyBytes()})
	go lean.Serve(ln)
	b.Cleanup(func() { lean.Close() })
	return ln.Addr().String()
}

// harnessClient connects to a gateway and returns a function that sends
// the harness's request on that connection and checks the answer.
func harnessClient(b *testing.B, addr string) func() error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	req := []byte("POST /v2/models/m/infer HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(harnessBody)) + "\r\n\r\n" + harnessBody)
	r := bufio.NewReaderSize(nc, 8<<10)
	body := make([]byte, 0, 1024)
	return func() error {
		if _, err := nc.Write(req); err != nil {
			return err
		}
		status, err := r.ReadSlice('\n')
		if err != nil || !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("status %q, %v", status, err)
		}
		n, err := readRawRequest(r)
		if err != nil {
			return err
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil || !bytes.Contains(body, []byte(`"id":"bench-000001"`)) {
			return fmt.Errorf("answer %q, %v", body, err)
		}
		return nil
	}
}

// discardSink is a prediction-log sink that keeps nothing.
type discardSink struct{}

func (discardSink) Write(context.Context, []predlog.Record) error { return nil }
func (discardSink) Close() error                                  { return nil }
