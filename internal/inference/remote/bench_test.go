package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// benchModel loads a model against an in-process backend.
func benchModel(b *testing.B, proto Protocol) *Model {
	b.Helper()
	srv := httptest.NewServer(newBackend().handler())
	b.Cleanup(srv.Close)
	u := srv.URL + "/v2/models/m"
	if proto == TFServing {
		u = srv.URL + "/v1/models/m"
	}
	return load(b, Document{URLs: []string{u}, Protocol: proto, Signature: testSignature()}, inference.LoadOptions{})
}

func benchPredict(b *testing.B, proto Protocol, parallel bool) {
	m := benchModel(b, proto)
	in := []inference.Tensor{rowsTensor([]float64{17.99, 10.38, 122.8, 1001})}
	ctx := context.Background()
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			if _, err := m.Predict(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Predict(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRemotePredict1Row is one row's round trip through Predict to a
// local OIP v2 backend and back: the cost this runtime adds on the
// gateway path, plus the backend's own.
func BenchmarkRemotePredict1Row(b *testing.B)         { benchPredict(b, V2, false) }
func BenchmarkRemotePredict1RowParallel(b *testing.B) { benchPredict(b, V2, true) }
func BenchmarkRemotePredict1RowTFServing(b *testing.B) {
	benchPredict(b, TFServing, false)
}

func BenchmarkDecodeV2Response(b *testing.B) {
	body := oip.AppendInferResponse(nil, &oip.InferResponse{ModelName: "m", ID: "1", Outputs: []inference.Tensor{
		{Name: "probabilities", Datatype: inference.FP32, Shape: []int64{1, 2}, F32: []float32{0.25, 0.75}},
	}})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeV2Response(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendV2Request(b *testing.B) {
	in := []inference.Tensor{rowsTensor([]float64{17.99, 10.38, 122.8, 1001})}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendV2Request(buf[:0], in)
	}
}

// BenchmarkBaselineHTTPClient1Row is the same round trip through a plain
// http.Client and encoding/json, for comparison with
// BenchmarkRemotePredict1Row.
func BenchmarkBaselineHTTPClient1Row(b *testing.B) {
	srv := httptest.NewServer(newBackend().handler())
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	type tensor struct {
		Name     string    `json:"name"`
		Datatype string    `json:"datatype"`
		Shape    []int64   `json:"shape"`
		Data     []float64 `json:"data"`
	}
	row := []float64{17.99, 10.38, 122.8, 1001}
	b.ReportAllocs()
	for b.Loop() {
		body, _ := json.Marshal(map[string]any{"inputs": []tensor{{"x", "FP64", []int64{1, features}, row}}})
		resp, err := client.Post(srv.URL+"/v2/models/m/infer", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Outputs []tensor `json:"outputs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || len(out.Outputs) != 2 {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemotePredictPipelined16 is BenchmarkRemotePredict1Row for 16
// calls sent pipelined with PredictPipelined; divide by 16 for a call.
func BenchmarkRemotePredictPipelined16(b *testing.B) {
	m := benchModel(b, V2)
	batch := make([][]inference.Tensor, 16)
	for i := range batch {
		batch[i] = []inference.Tensor{rowsTensor([]float64{17.99, 10.38, 122.8, float64(i)})}
	}
	ctx := context.Background()
	var failed error
	b.ReportAllocs()
	for b.Loop() {
		m.PredictPipelined(ctx, batch, func(_ int, _ []inference.Tensor, err error) {
			if err != nil {
				failed = err
			}
		})
		if failed != nil {
			b.Fatal(failed)
		}
	}
}
