package oip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// benchRequest is an inference request for a tabular model: one FP32
// input of rows × features random values, as a client would send them.
func benchRequest(rows, features int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := fmt.Appendf(nil, `{"id":"bench","inputs":[{"name":"input","shape":[%d,%d],"datatype":"FP32","data":[`, rows, features)
	for i := range rows * features {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(float32(r.NormFloat64()*100)), 'g', -1, 32)
	}
	return append(b, "]}]}"...)
}

// benchInstances is the same data in the plain instances form.
func benchInstances(rows, features int) ([]byte, inference.TensorSpec) {
	r := rand.New(rand.NewPCG(1, 2))
	spec := inference.TensorSpec{Name: "input", Datatype: inference.FP64}
	for j := range features {
		spec.Features = append(spec.Features, inference.Feature{Name: fmt.Sprintf("feature_%02d", j)})
	}
	b := []byte(`{"instances":[`)
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, f := range spec.Features {
			if j > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, "%q:", f.Name)
			b = strconv.AppendFloat(b, r.NormFloat64()*100, 'g', 8, 64)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), spec
}

var benchSizes = []struct{ rows, features int }{{1, 30}, {1000, 30}}

func BenchmarkDecodeInferRequest(b *testing.B) {
	decoders := []struct {
		name   string
		decode func([]byte, Limits) (*InferRequest, error)
	}{
		{"fast", DecodeInferRequest},
		{"encoding-json", func(body []byte, lim Limits) (*InferRequest, error) { return refDecodeInferRequest(body, lim, false) }},
		{"encoding-json-strict", func(body []byte, lim Limits) (*InferRequest, error) { return refDecodeInferRequest(body, lim, true) }},
	}
	for _, size := range benchSizes {
		body := benchRequest(size.rows, size.features)
		for _, dec := range decoders {
			b.Run(fmt.Sprintf("%dx%d/%s", size.rows, size.features, dec.name), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := dec.decode(body, Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// harnessRequest is the request of the gateway comparison's load
// (bench/gateway): an id, one 1×8 input, a requested output and request
// parameters.
const harnessRequest = `{"id":"bench-000001","inputs":[{"name":"input-0","shape":[1,8],"datatype":"FP32","data":[0.125,0.25,0.375,0.5,0.625,0.75,0.875,1.0]}],"outputs":[{"name":"p"}],"parameters":{"priority":1,"tag":"gw"}}`

// BenchmarkDecodeHarnessRequest decodes harnessRequest.
func BenchmarkDecodeHarnessRequest(b *testing.B) {
	body := []byte(harnessRequest)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeInferRequest(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInstances(b *testing.B) {
	decoders := []struct {
		name   string
		decode func([]byte, inference.TensorSpec, Limits) (inference.Tensor, error)
	}{
		{"fast", DecodeInstances},
		{"encoding-json", func(body []byte, spec inference.TensorSpec, lim Limits) (inference.Tensor, error) {
			return refDecodeInstances(body, spec, lim, false)
		}},
	}
	for _, size := range benchSizes {
		body, spec := benchInstances(size.rows, size.features)
		for _, dec := range decoders {
			b.Run(fmt.Sprintf("%dx%d/%s", size.rows, size.features, dec.name), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := dec.decode(body, spec, Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkAppendInferResponse(b *testing.B) {
	for _, size := range benchSizes {
		req, err := DecodeInferRequest(benchRequest(size.rows, size.features), Limits{})
		if err != nil {
			b.Fatal(err)
		}
		resp := &InferResponse{ModelName: "fraud", ModelVersion: "3", ID: "bench", Outputs: req.Inputs}
		b.Run(fmt.Sprintf("%dx%d", size.rows, size.features), func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendInferResponse(buf[:0], resp)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkDecodeVariedRequests decodes harness-like requests (one 1×8
// FP32 input) whose values differ from one request to the next, as a
// client's do, so that the branch predictor cannot learn one body.
func BenchmarkDecodeVariedRequests(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	bodies := make([][]byte, 256)
	size := 0
	for k := range bodies {
		body := []byte(`{"id":"bench-000001","inputs":[{"name":"input-0","shape":[1,8],"datatype":"FP32","data":[`)
		for i := range 8 {
			if i > 0 {
				body = append(body, ',')
			}
			f := float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-2)))
			body = strconv.AppendFloat(body, float64(f), 'g', -1-r.IntN(2)*(-4-r.IntN(4)), 32)
		}
		bodies[k] = append(body, `]}],"outputs":[{"name":"p"}]}`...)
		size += len(bodies[k])
	}
	b.SetBytes(int64(size / len(bodies)))
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if _, err := DecodeInferRequest(bodies[k%len(bodies)], Limits{}); err != nil {
			b.Fatal(err)
		}
		k++
	}
}

// BenchmarkDecodeData decodes 100×30 elements written as clients write
// them: float32 values in their shortest form (as Go and JavaScript
// write them), in the 17-digit form Python writes a float32 turned into a
// float, and integers.
func BenchmarkDecodeData(b *testing.B) {
	forms := []struct {
		name, datatype string
		elem           func(r *rand.Rand, b []byte) []byte
	}{
		{"FP32-shortest", "FP32", func(r *rand.Rand, b []byte) []byte {
			return strconv.AppendFloat(b, float64(float32(r.NormFloat64()*100)), 'g', -1, 32)
		}},
		{"FP32-python", "FP32", func(r *rand.Rand, b []byte) []byte {
			return strconv.AppendFloat(b, float64(float32(r.NormFloat64()*100)), 'g', -1, 64)
		}},
		{"INT64", "INT64", func(r *rand.Rand, b []byte) []byte {
			return strconv.AppendInt(b, r.Int64N(1<<(1+r.IntN(40)))-1000, 10)
		}},
	}
	for _, form := range forms {
		r := rand.New(rand.NewPCG(1, 2))
		body := fmt.Appendf(nil, `{"inputs":[{"name":"input","shape":[100,30],"datatype":%q,"data":[`, form.datatype)
		for i := range 3000 {
			if i > 0 {
				body = append(body, ',')
			}
			body = form.elem(r, body)
		}
		body = append(body, "]}]}"...)
		b.Run(form.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeInferRequest(body, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
