package remote

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/inferencetest"
)

func TestPredict(t *testing.T) {
	p := startBackend(t, "")
	for _, tc := range []struct {
		proto Protocol
		url   string
	}{{V2, p.v2URL()}, {TFServing, p.tfURL()}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			m := load(t, Document{URLs: []string{tc.url}, Protocol: tc.proto, Signature: testSignature()}, inference.LoadOptions{})
			out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4}, []float64{-1, 0.5, 0, 10})})
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			if got, want := out[0].F64, []float64{10, 9.5}; !cmp.Equal(got, want) {
				t.Errorf("sums = %v, want %v", got, want)
			}
			if got, want := out[0].Shape, []int64{2}; !cmp.Equal(got, want) {
				t.Errorf("shape = %v, want %v", got, want)
			}
			// FP32 is converted to the declared FP64; one row may be [F].
			out, err = m.Predict(context.Background(), []inference.Tensor{{Name: "x", Datatype: inference.FP32, Shape: []int64{features}, F32: []float32{1, 1, 1, 1.5}}})
			if err != nil {
				t.Fatalf("Predict(FP32 [4]): %v", err)
			}
			if got, want := out[0].F64, []float64{4.5}; !cmp.Equal(got, want) {
				t.Errorf("sums = %v, want %v", got, want)
			}
		})
	}
}

func TestPredictAllOutputs(t *testing.T) {
	p := startBackend(t, "")
	m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
	out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
	if err != nil {
		t.Fatal(err)
	}
	want := []inference.Tensor{
		{Name: "sum", Datatype: inference.FP64, Shape: []int64{1}, F64: []float64{10}},
		{Name: "max", Datatype: inference.FP32, Shape: []int64{1}, F32: []float32{4}},
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestSignatureFromMetadata(t *testing.T) {
	p := startBackend(t, "")
	m := load(t, Document{URLs: []string{p.v2URL()}}, inference.LoadOptions{})
	want := inference.Signature{
		Inputs: []inference.TensorSpec{{Name: "x", Datatype: inference.FP64, Shape: []int64{-1, features}}},
		Outputs: []inference.TensorSpec{
			{Name: "sum", Datatype: inference.FP64, Shape: []int64{-1}},
			{Name: "max", Datatype: inference.FP32, Shape: []int64{-1}},
		},
	}
	if diff := cmp.Diff(want, m.Signature()); diff != "" {
		t.Errorf("Signature() (-want +got):\n%s", diff)
	}
	// The caller's signature names the features the metadata lacks.
	feats := testSignature().Inputs[0].Features
	m = load(t, Document{URLs: []string{p.v2URL()}}, inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Features: feats}}}})
	sig := m.Signature()
	in, ok := sig.TabularInput()
	if !ok || in.Name != "x" || in.Datatype != inference.FP64 || len(in.Features) != features {
		t.Errorf("merged signature input = %+v, tabular %v; want x FP64 with 4 features", in, ok)
	}
}

// freeAddr returns an address nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLoadUnreachableWithoutSignature(t *testing.T) {
	artifact, err := (&Document{URLs: []string{"http://" + freeAddr(t) + "/v2/models/m"}, Timeout: time.Second}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Format{}.Load(context.Background(), artifact, inference.LoadOptions{})
	if !errors.Is(err, inference.ErrBackendUnavailable) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("Load = %v, want ErrBackendUnavailable explaining that a signature is needed", err)
	}
	// With a signature, an unreachable server is no reason not to load.
	artifact, _ = (&Document{URLs: []string{"http://" + freeAddr(t) + "/v2/models/m"}, Signature: testSignature()}).Marshal()
	m, err := Format{}.Load(context.Background(), artifact, inference.LoadOptions{})
	if err != nil {
		t.Fatalf("Load with a signature: %v", err)
	}
	m.(*Model).Close()
}

func TestTimeout(t *testing.T) {
	p1, p2 := startBackend(t, ""), startBackend(t, "")
	p1.set(t, "delay", "10s")
	p2.set(t, "delay", "10s")
	const timeout = 300 * time.Millisecond
	m := load(t, Document{URLs: []string{p1.v2URL(), p2.v2URL()}, Timeout: timeout, Signature: testSignature()}, inference.LoadOptions{})
	for range 3 {
		start := time.Now()
		_, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
		took := time.Since(start)
		if !errors.Is(err, inference.ErrTimeout) || !strings.Contains(err.Error(), p1.addr) && !strings.Contains(err.Error(), p2.addr) {
			t.Fatalf("Predict = %v, want ErrTimeout naming the URL", err)
		}
		if took < timeout || took > timeout+time.Second {
			t.Fatalf("Predict took %s, want about %s", took, timeout)
		}
	}
	// PredictAt counts the version's timeout from the start it is given.
	start := time.Now()
	_, err := m.PredictAt(context.Background(), start.Add(-timeout+100*time.Millisecond), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
	if took := time.Since(start); !errors.Is(err, inference.ErrTimeout) || took >= timeout-50*time.Millisecond {
		t.Errorf("PredictAt from %s before = %v after %s, want ErrTimeout after about 100ms", timeout-100*time.Millisecond, err, took)
	}
	// The caller's deadline, shorter than the version's, wins.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = m.Predict(ctx, []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Predict with a short deadline = %v, want context.DeadlineExceeded", err)
	}
}

func TestRetryOnAnotherReplica(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, p *proc)
	}{
		{"killed", func(t *testing.T, p *proc) { p.stop() }},
		{"dropping-connections", func(t *testing.T, p *proc) { p.set(t, "drop", "1") }},
		{"503", func(t *testing.T, p *proc) { p.set(t, "status", "503", "msg", "overloaded") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, good := startBackend(t, ""), startBackend(t, "")
			m := load(t, Document{URLs: []string{bad.v2URL(), good.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
			tc.breakIt(t, bad)
			for i := range 10 {
				out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{float64(i), 0, 0, 1})})
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got := out[0].F64[0]; got != float64(i+1) {
					t.Fatalf("call %d: sum %v, want %d", i, got, i+1)
				}
			}
			if n := good.calls(t); n != 10 {
				t.Errorf("healthy replica answered %d calls, want 10", n)
			}
		})
	}
}

func TestAllReplicasDown(t *testing.T) {
	p1, p2 := startBackend(t, ""), startBackend(t, "")
	m := load(t, Document{URLs: []string{p1.v2URL(), p2.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
	p1.stop()
	p2.stop()
	for range 3 {
		_, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})})
		if !errors.Is(err, inference.ErrBackendUnavailable) {
			t.Fatalf("Predict = %v, want ErrBackendUnavailable", err)
		}
	}
	if err := m.Warm(context.Background()); !errors.Is(err, inference.ErrBackendUnavailable) {
		t.Errorf("Warm = %v, want ErrBackendUnavailable", err)
	}
}

func TestBackendErrors(t *testing.T) {
	p := startBackend(t, "")
	m := load(t, Document{URLs: []string{p.v2URL()}, Signature: testSignature()}, inference.LoadOptions{})
	in := []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}

	p.set(t, "status", "400", "msg", "feature b must be positive")
	_, err := m.Predict(context.Background(), in)
	var ie *inference.InputError
	if !errors.As(err, &ie) || !strings.Contains(ie.Error(), "feature b must be positive") {
		t.Errorf("backend 400: Predict = %v, want *InputError with the backend's message", err)
	}

	p.set(t, "status", "500", "msg", "CUDA out of memory")
	_, err = m.Predict(context.Background(), in)
	if err == nil || errors.As(err, &ie) || errors.Is(err, inference.ErrBackendUnavailable) || !strings.Contains(err.Error(), "CUDA out of memory") {
		t.Errorf("backend 500: Predict = %v, want a plain error with the backend's message", err)
	}

	p.set(t, "status", "503", "msg", "loading")
	_, err = m.Predict(context.Background(), in)
	if !errors.Is(err, inference.ErrBackendUnavailable) || !strings.Contains(err.Error(), "loading") {
		t.Errorf("backend 503: Predict = %v, want ErrBackendUnavailable with the backend's message", err)
	}

	// Input the signature rules out never reaches the server.
	p.set(t)
	before := p.calls(t)
	_, err = m.Predict(context.Background(), []inference.Tensor{{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 3}, F64: []float64{1, 2, 3}}})
	if !errors.As(err, &ie) {
		t.Errorf("wrong width: Predict = %v, want *InputError", err)
	}
	if after := p.calls(t); after != before {
		t.Errorf("wrong width reached the backend (%d calls, want %d)", after, before)
	}
}

func TestHealthChecks(t *testing.T) {
	p1, p2 := startBackend(t, ""), startBackend(t, "")
	m := load(t, Document{URLs: []string{p1.v2URL(), p2.v2URL()}, HealthInterval: 100 * time.Millisecond, Signature: testSignature()}, inference.LoadOptions{})
	r1 := m.replicas[0]

	p1.set(t, "ready", "0")
	waitFor(t, 5*time.Second, "replica 1 not marked down", func() bool { return !r1.healthy.Load() })
	before := p1.calls(t)
	for range 6 {
		if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); err != nil {
			t.Fatal(err)
		}
	}
	if after := p1.calls(t); after != before {
		t.Errorf("a replica marked down got %d calls", after-before)
	}
	p1.set(t, "ready", "1")
	waitFor(t, 5*time.Second, "replica 1 not marked up again", r1.healthy.Load)

	// A replica that dies is marked down, and up when it comes back on
	// the same address.
	p1.stop()
	waitFor(t, 5*time.Second, "killed replica not marked down", func() bool { return !r1.healthy.Load() })
	startBackend(t, p1.addr)
	waitFor(t, 10*time.Second, "restarted replica not marked up", r1.healthy.Load)
}

func TestCloseStopsGoroutines(t *testing.T) {
	p := startBackend(t, "")
	before := runtime.NumGoroutine()
	artifact, _ := (&Document{URLs: []string{p.v2URL()}, HealthInterval: 100 * time.Millisecond, Signature: testSignature()}).Marshal()
	mi, err := Format{}.Load(context.Background(), artifact, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mi.(*Model)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitFor(t, 5*time.Second, "goroutines still running after Close", func() bool { return runtime.NumGoroutine() <= before })
	if _, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor([]float64{1, 2, 3, 4})}); !errors.Is(err, inference.ErrBackendUnavailable) {
		t.Errorf("Predict after Close = %v, want ErrBackendUnavailable", err)
	}
}

func TestConformance(t *testing.T) {
	p := startBackend(t, "")
	var rows, want [][]float64
	for i := range 40 {
		r := []float64{float64(i), float64(i%7) * 0.25, -float64(i % 3), 1e-3 * float64(i)}
		rows = append(rows, r)
		want = append(want, []float64{r[0] + r[1] + r[2] + r[3]})
	}
	for _, tc := range []struct {
		proto Protocol
		url   string
	}{{V2, p.v2URL()}, {TFServing, p.tfURL()}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			m := load(t, Document{URLs: []string{tc.url}, Protocol: tc.proto, Signature: testSignature()}, inference.LoadOptions{})
			inferencetest.Run(t, inferencetest.Case{Model: m, Rows: rows, Want: want, Tol: 1e-12})
		})
	}
}

func TestLoadOptions(t *testing.T) {
	artifact, _ := (&Document{URLs: []string{"http://127.0.0.1:1/v2/models/m"}, Signature: testSignature()}).Marshal()
	for _, tc := range []struct {
		name string
		opts inference.LoadOptions
		want error
	}{
		{"params", inference.LoadOptions{Params: map[string]string{"x": "1"}}, inference.ErrInvalidOptions},
		{"threads", inference.LoadOptions{Threads: -1}, inference.ErrInvalidOptions},
		{"signature-count", inference.LoadOptions{Signature: &inference.Signature{Inputs: make([]inference.TensorSpec, 2)}}, inference.ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := (Format{}).Load(context.Background(), artifact, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("Load = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := (Format{}).Load(context.Background(), []byte(`{"format":"sluice.remote/v1","urls":[]}`), inference.LoadOptions{}); !errors.Is(err, inference.ErrInvalidModel) || !strings.Contains(err.Error(), "urls") {
		t.Errorf("Load(no urls) = %v, want ErrInvalidModel naming urls", err)
	}
}
