package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// smallV2Answer is a typical answer of a model with one output and one
// row.
const smallV2Answer = `{"model_name":"m","model_version":"1","outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[0.42]}]}`

// largeFP32 returns rows×cols FP32 values, the same every time.
func largeFP32(rows, cols int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// largeV2Answer is an answer of 1000 rows of 30 FP32 values.
func largeV2Answer() []byte {
	b := []byte(`{"model_name":"m","model_version":"1","outputs":[{"name":"p","shape":[1000,30],"datatype":"FP32","data":[`)
	for i, f := range largeFP32(1000, 30) {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, "]}]}"...)
}

// largePredictions is a TF Serving answer of 1000 rows of 30 FP32
// values.
func largePredictions() []byte {
	b := []byte(`{"predictions":[`)
	for i, f := range largeFP32(1000, 30) {
		switch {
		case i == 0:
			b = append(b, '[')
		case i%30 == 0:
			b = append(b, "],["...)
		default:
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, "]]}"...)
}

func benchDecodeV2(b *testing.B, body []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeV2Response(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeV2ResponseSmall(b *testing.B) { benchDecodeV2(b, []byte(smallV2Answer)) }
func BenchmarkDecodeV2ResponseLarge(b *testing.B) { benchDecodeV2(b, largeV2Answer()) }

func benchDecodePredictions(b *testing.B, body []byte, rows int) {
	out := newTFOutput(inference.TensorSpec{Name: "p", Datatype: inference.FP32})
	var scratch []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if _, scratch, err = decodePredictions(body, rows, &out, scratch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePredictionsSmall(b *testing.B) {
	benchDecodePredictions(b, []byte(`{"predictions":[[0.42]]}`), 1)
}
func BenchmarkDecodePredictionsLarge(b *testing.B) {
	benchDecodePredictions(b, largePredictions(), 1000)
}

// BenchmarkScanResponseLarge is the part of BenchmarkDecodeV2ResponseLarge
// spent before the oip decoder: validating the body around the outputs
// and finding their end.
func BenchmarkScanResponseLarge(b *testing.B) {
	body := largeV2Answer()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := scanResponse(body, "outputs"); err != nil {
			b.Fatal(err)
		}
	}
}
