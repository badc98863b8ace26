package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

func TestFloat16Known(t *testing.T) {
	for _, c := range []struct {
		f    float64
		half uint16
		bf16 uint16
	}{
		{0, 0x0000, 0x0000},
		{math.Copysign(0, -1), 0x8000, 0x8000},
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{0.1, 0x2e66, 0x3dcd},
		{65504, 0x7bff, 0x4780},
		{65519.99, 0x7bff, 0x4780},
		{65520, 0x7c00, 0x4780}, // ties to even: up to infinity in FP16
		{1e10, 0x7c00, 0x5015},  // overflow in FP16 only
		{math.Ldexp(1, -24), 0x0001, 0x3380},
		{math.Ldexp(1, -25), 0x0000, 0x3300},        // tie: to even (zero)
		{math.Ldexp(1.5, -25), 0x0001, 0x3340},      // above the tie
		{math.Ldexp(1, -14), 0x0400, 0x3880},        // smallest normal
		{math.Ldexp(1023, -24), 0x03ff, 0x387f + 1}, // largest subnormal; bf16 rounds
		{1 + math.Ldexp(1, -11), 0x3c00, 0x3f80},    // tie below: even
		{1 + math.Ldexp(3, -11), 0x3c02, 0x3f80},    // tie above: even
		{math.Inf(1), 0x7c00, 0x7f80},
		{math.Inf(-1), 0xfc00, 0xff80},
		{1e-300, 0x0000, 0x0000},
	} {
		if got := float64ToHalf(c.f); got != c.half {
			t.Errorf("float64ToHalf(%g) = %#04x, want %#04x", c.f, got, c.half)
		}
		if got := float64ToBFloat16(c.f); got != c.bf16 {
			t.Errorf("float64ToBFloat16(%g) = %#04x, want %#04x", c.f, got, c.bf16)
		}
	}
	if h := float64ToHalf(math.NaN()); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("float64ToHalf(NaN) = %#04x, want a NaN", h)
	}
}

// TestFloat16RoundTrip checks every FP16 and BFLOAT16 value widens exactly
// and narrows back to itself.
func TestFloat16RoundTrip(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		if f := halfToFloat32(h); !math.IsNaN(float64(f)) {
			if got := float64ToHalf(float64(f)); got != h {
				t.Fatalf("FP16 %#04x -> %g -> %#04x", h, f, got)
			}
		}
		if f := bfloat16ToFloat32(h); !math.IsNaN(float64(f)) {
			if got := float64ToBFloat16(float64(f)); got != h {
				t.Fatalf("BF16 %#04x -> %g -> %#04x", h, f, got)
			}
		}
	}
}

func TestInputDataConversions(t *testing.T) {
	f64 := func(v ...float64) *inference.Tensor {
		return &inference.Tensor{Name: "x", Datatype: inference.FP64, Shape: []int64{int64(len(v))}, F64: v}
	}
	i64 := func(v ...int64) *inference.Tensor {
		return &inference.Tensor{Name: "x", Datatype: inference.INT64, Shape: []int64{int64(len(v))}, I64: v}
	}
	u64 := func(v ...uint64) *inference.Tensor {
		return &inference.Tensor{Name: "x", Datatype: inference.UINT64, Shape: []int64{int64(len(v))}, U64: v}
	}
	boolT := &inference.Tensor{Name: "x", Datatype: inference.BOOL, Shape: []int64{2}, Bool: []bool{true, false}}
	bytesT := &inference.Tensor{Name: "x", Datatype: inference.BYTES, Shape: []int64{2}, Bytes: [][]byte{[]byte("a"), []byte("bc")}}
	for _, c := range []struct {
		name string
		in   *inference.Tensor
		et   elemType
		want any    // nil when an error is expected
		err  string // part of the *InputError message
	}{
		{"fp64-to-fp32", f64(1.5, -2, math.NaN()), elemFloat, []float32{1.5, -2, float32(math.NaN())}, ""},
		{"fp64-to-fp32-rounds", f64(0.1), elemFloat, []float32{0.1}, ""},
		{"fp64-to-fp32-overflow", f64(1e300), elemFloat, nil, "overflows"},
		{"fp64-inf-to-fp32", f64(math.Inf(1)), elemFloat, []float32{float32(math.Inf(1))}, ""},
		{"int64-to-fp32", i64(1<<24, -3, 1<<40), elemFloat, []float32{1 << 24, -3, 1 << 40}, ""},
		{"int64-to-fp32-inexact", i64(1<<24 + 1), elemFloat, nil, "exactly"},
		{"int64-min-to-fp64", i64(math.MinInt64), elemDouble, []float64{math.MinInt64}, ""},
		{"int64-to-fp64-inexact", i64(1<<53 + 1), elemDouble, nil, "exactly"},
		{"uint64-to-fp64", u64(1 << 63), elemDouble, []float64{1 << 63}, ""},
		{"bool-to-fp32", boolT, elemFloat, []float32{1, 0}, ""},
		{"fp64-to-int64", f64(3, -4, 0), elemInt64, []int64{3, -4, 0}, ""},
		{"fp64-fraction-to-int64", f64(1.5), elemInt64, nil, "whole number"},
		{"fp64-nan-to-int64", f64(math.NaN()), elemInt64, nil, "whole number"},
		{"fp64-2^63-to-int64", f64(1 << 63), elemInt64, nil, "range"},
		{"fp64-to-uint8", f64(255), elemUint8, []uint8{255}, ""},
		{"fp64-256-to-uint8", f64(256), elemUint8, nil, "range"},
		{"fp64-neg-to-uint64", f64(-1), elemUint64, nil, "range"},
		{"int64-to-int8", i64(-128, 127), elemInt8, []int8{-128, 127}, ""},
		{"int64-to-int8-range", i64(128), elemInt8, nil, "out of range"},
		{"int64-to-uint32", i64(1<<32 - 1), elemUint32, []uint32{1<<32 - 1}, ""},
		{"uint64-to-int64", u64(1 << 63), elemInt64, nil, "out of range"},
		{"int64-to-uint64", i64(5), elemUint64, []uint64{5}, ""},
		{"int64-neg-to-uint64", i64(-5), elemUint64, nil, "out of range"},
		{"bool-to-int32", boolT, elemInt32, []int32{1, 0}, ""},
		{"int64-to-bool", i64(1, 0), elemBool, []bool{true, false}, ""},
		{"int64-2-to-bool", i64(2), elemBool, nil, "0 or 1"},
		{"fp64-to-bool", f64(0, 1), elemBool, []bool{false, true}, ""},
		{"fp64-to-fp16", f64(1, 0.1), elemFloat16, []uint16{0x3c00, 0x2e66}, ""},
		{"fp64-to-fp16-overflow", f64(1e6), elemFloat16, nil, "overflows"},
		{"int64-to-fp16", i64(2048), elemFloat16, []uint16{0x6800}, ""},
		{"int64-to-fp16-inexact", i64(2049), elemFloat16, nil, "exactly"},
		{"fp64-to-bf16", f64(1), elemBFloat16, []uint16{0x3f80}, ""},
		{"bytes-to-string", bytesT, elemString, []string{"a", "bc"}, ""},
		{"bytes-to-fp32", bytesT, elemFloat, nil, "BYTES cannot"},
		{"fp64-to-string", f64(1), elemString, nil, "send BYTES"},
		{"nul-to-string", &inference.Tensor{Name: "x", Datatype: inference.BYTES, Shape: []int64{1}, Bytes: [][]byte{{'a', 0}}}, elemString, nil, "NUL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := inputData(c.in, c.et)
			if c.want == nil {
				var ie *inference.InputError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(ie.Field, "x") {
					t.Fatalf("inputData = %v, %v; want an *InputError on x containing %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("inputData: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || reflect.TypeOf(got) != reflect.TypeOf(c.want) {
				t.Errorf("inputData = %T %v, want %T %v", got, got, c.want, c.want)
			}
		})
	}
}

func TestInputDataNoCopy(t *testing.T) {
	f32 := []float32{1, 2}
	got, err := inputData(&inference.Tensor{Name: "x", Datatype: inference.FP32, Shape: []int64{2}, F32: f32}, elemFloat)
	if err != nil || &got.([]float32)[0] != &f32[0] {
		t.Errorf("FP32 to FLOAT copied the data (err %v)", err)
	}
	i64 := []int64{1, 2}
	got, err = inputData(&inference.Tensor{Name: "x", Datatype: inference.INT32, Shape: []int64{2}, I64: i64}, elemInt64)
	if err != nil || &got.([]int64)[0] != &i64[0] {
		t.Errorf("INT32 to INT64 copied the data (err %v)", err)
	}
}

func TestOutputTensor(t *testing.T) {
	for _, c := range []struct {
		et   elemType
		data any
		want inference.Tensor
	}{
		{elemFloat, []float32{1}, inference.Tensor{Datatype: inference.FP32, F32: []float32{1}}},
		{elemDouble, []float64{1}, inference.Tensor{Datatype: inference.FP64, F64: []float64{1}}},
		{elemInt32, []int32{-1}, inference.Tensor{Datatype: inference.INT32, I64: []int64{-1}}},
		{elemUint8, []uint8{255}, inference.Tensor{Datatype: inference.UINT8, I64: []int64{255}}},
		{elemUint16, []uint16{7}, inference.Tensor{Datatype: inference.UINT16, I64: []int64{7}}},
		{elemUint64, []uint64{1 << 63}, inference.Tensor{Datatype: inference.UINT64, U64: []uint64{1 << 63}}},
		{elemBool, []bool{true}, inference.Tensor{Datatype: inference.BOOL, Bool: []bool{true}}},
		{elemFloat16, []uint16{0x3c00}, inference.Tensor{Datatype: inference.FP16, F32: []float32{1}}},
		{elemBFloat16, []uint16{0x3f80}, inference.Tensor{Datatype: inference.FP32, F32: []float32{1}}},
		{elemString, []string{"hi"}, inference.Tensor{Datatype: inference.BYTES, Bytes: [][]byte{[]byte("hi")}}},
	} {
		got, err := outputTensor("y", c.et, []int64{1}, c.data)
		c.want.Name, c.want.Shape = "y", []int64{1}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("outputTensor(%s, %v) = %+v, %v; want %+v", c.et, c.data, got, err, c.want)
		}
	}
	if _, err := outputTensor("y", elemComplex64, []int64{1}, []byte{0}); err == nil {
		t.Errorf("outputTensor(COMPLEX64) succeeded")
	}
}

func TestParseParams(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    inference.LoadOptions
		want    sessionConfig
		wantErr string
	}{
		{"defaults", inference.LoadOptions{Threads: 3}, sessionConfig{intraOp: 3, optLevel: "all"}, ""},
		{"all", inference.LoadOptions{Params: map[string]string{
			"intra_op_threads": "2", "onnx.inter_op_threads": "4", "graph_optimization_level": "basic", "onnx.execution_mode": "parallel",
		}}, sessionConfig{intraOp: 2, interOp: 4, optLevel: "basic", parallel: true}, ""},
		{"intra-zero", inference.LoadOptions{Threads: 2, Params: map[string]string{"intra_op_threads": "0"}}, sessionConfig{optLevel: "all"}, ""},
		{"others-ignored", inference.LoadOptions{Threads: 1, Params: map[string]string{"threads": "1", "sluice.signature": "user"}}, sessionConfig{intraOp: 1, optLevel: "all"}, ""},
		{"unknown-onnx", inference.LoadOptions{Params: map[string]string{"onnx.intra_threads": "1"}}, sessionConfig{}, "params.onnx.intra_threads: unknown parameter"},
		{"unknown-plain", inference.LoadOptions{Params: map[string]string{"raw_score": "true"}}, sessionConfig{}, "params.raw_score: unknown parameter"},
		{"bad-threads", inference.LoadOptions{Params: map[string]string{"inter_op_threads": "-1"}}, sessionConfig{}, "params.inter_op_threads"},
		{"bad-level", inference.LoadOptions{Params: map[string]string{"graph_optimization_level": "max"}}, sessionConfig{}, "params.graph_optimization_level"},
		{"bad-mode", inference.LoadOptions{Params: map[string]string{"onnx.execution_mode": "async"}}, sessionConfig{}, "params.onnx.execution_mode"},
		{"negative-threads", inference.LoadOptions{Threads: -1}, sessionConfig{}, "threads is -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseParams(c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("parseParams = %v, want error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("parseParams = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestBuildSignature(t *testing.T) {
	in := func() []ioSpec {
		return []ioSpec{{name: "input", reqName: "input", kind: kindTensor, elem: elemFloat, dims: []int64{-1, 3}}}
	}
	out := func() []ioSpec {
		return []ioSpec{
			{name: "label", reqName: "label", kind: kindTensor, elem: elemInt64, dims: []int64{-1}},
			{name: "probabilities", reqName: "probabilities", kind: kindSequence, elem: elemFloat, key: elemInt64, dims: []int64{-1, 2}, labels: []string{"0", "1"}},
		}
	}
	feats := []inference.Feature{{Name: "a"}, {Name: "b"}, {Name: "c"}}

	sig, _, outs, err := buildSignature(in(), out(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sig.Inputs[0].Features); got != "[{f0 } {f1 } {f2 }]" {
		t.Errorf("default features = %s, want f0..f2", got)
	}
	if len(outs) != 2 || sig.Outputs[1].Datatype != inference.FP32 || fmt.Sprint(sig.Outputs[1].Labels) != "[0 1]" {
		t.Errorf("outputs = %+v", sig.Outputs)
	}

	user := &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "x", Datatype: inference.FP32, Features: feats, AllowMissing: true}},
		Outputs: []inference.TensorSpec{{Name: "probabilities", Datatype: inference.FP32, Labels: []string{"no", "yes"}}},
	}
	sig, ins, outs, err := buildSignature(in(), out(), user)
	if err != nil {
		t.Fatal(err)
	}
	if ins[0].reqName != "x" || ins[0].name != "input" || sig.Inputs[0].Name != "x" || !sig.Inputs[0].AllowMissing || len(sig.Inputs[0].Features) != 3 {
		t.Errorf("renamed input: spec %+v, signature %+v", ins[0], sig.Inputs[0])
	}
	if len(outs) != 1 || outs[0].name != "probabilities" || fmt.Sprint(sig.Outputs[0].Labels) != "[no yes]" {
		t.Errorf("selected outputs: %+v, signature %+v", outs, sig.Outputs)
	}

	// A symbolic feature count is fixed by the names.
	sym := in()
	sym[0].dims = []int64{-1, -1}
	sig, ins, _, err = buildSignature(sym, out(), &inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Features: feats}}})
	if err != nil || fmt.Sprint(ins[0].dims) != "[-1 3]" || fmt.Sprint(sig.Inputs[0].Shape) != "[-1 3]" {
		t.Errorf("symbolic F: dims %v, signature %+v, err %v", ins[0].dims, sig.Inputs, err)
	}
	if _, _, _, err := buildSignature(sym, out(), nil); err != nil || sig.Inputs[0].Features == nil {
		t.Errorf("symbolic F without names: %v", err)
	}

	for _, c := range []struct {
		name string
		user inference.Signature
		want string
	}{
		{"wrong-feature-count", inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Features: feats[:2]}}}, "signature.inputs[0].features: 2 names"},
		{"wrong-datatype", inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP64}}}, "signature.inputs[0].datatype: FP64"},
		{"wrong-shape", inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Shape: []int64{-1, 4}}}}, "signature.inputs[0].shape[1]"},
		{"wrong-rank", inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Shape: []int64{3}}}}, "signature.inputs[0].shape"},
		{"unknown-output", inference.Signature{Outputs: []inference.TensorSpec{{Name: "scores", Datatype: inference.FP32}}}, `no output "scores"`},
		{"output-twice", inference.Signature{Outputs: []inference.TensorSpec{{Name: "label", Datatype: inference.INT64}, {Name: "label", Datatype: inference.INT64}}}, "listed twice"},
		{"unknown-input-of-two", inference.Signature{Inputs: []inference.TensorSpec{{Name: "a", Datatype: inference.FP32}, {Name: "b", Datatype: inference.FP32}}}, `no input "a"`},
	} {
		if _, _, _, err := buildSignature(in(), out(), &c.user); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: buildSignature = %v, want error containing %q", c.name, err, c.want)
		}
	}
}

func TestPrepareInputShapes(t *testing.T) {
	spec := &ioSpec{name: "x", reqName: "x", kind: kindTensor, elem: elemFloat, dims: []int64{-1, 3}}
	row := []float64{1, 2, 3}
	shape, _, err := prepareInput(&inference.Tensor{Name: "x", Datatype: inference.FP64, Shape: []int64{3}, F64: row}, spec)
	if err != nil || fmt.Sprint(shape) != "[1 3]" {
		t.Errorf("one row as [3]: shape %v, err %v; want [1 3]", shape, err)
	}
	for _, bad := range []inference.Tensor{
		{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 4}, F64: make([]float64, 4)},
		{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 1, 3}, F64: row},
		{Name: "x", Datatype: inference.FP64, Shape: []int64{2}, F64: row[:2]},
		{Name: "x", Datatype: inference.FP64, Shape: []int64{2, 3}, F64: row},
		{Name: "x", Datatype: "FP128", Shape: []int64{1, 3}},
	} {
		_, _, err := prepareInput(&bad, spec)
		var ie *inference.InputError
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "x") {
			t.Errorf("prepareInput(%v %v) = %v, want an *InputError on x", bad.Datatype, bad.Shape, err)
		}
	}
	// Unknown rank: any shape, including a scalar.
	free := &ioSpec{name: "x", reqName: "x", kind: kindTensor, elem: elemFloat}
	if shape, _, err := prepareInput(&inference.Tensor{Name: "x", Datatype: inference.FP32, Shape: []int64{}, F32: []float32{1}}, free); err != nil || len(shape) != 0 {
		t.Errorf("scalar to unknown rank: %v %v", shape, err)
	}
	if got := dimsString([]int64{-1, 30, -1}); got != "[N,30,?]" {
		t.Errorf("dimsString = %s", got)
	}
}

func TestFindLibrary(t *testing.T) {
	t.Setenv(EnvLibrary, "")
	t.Chdir(t.TempDir())
	if p, _ := findLibrary("/opt/ort/libonnxruntime.so"); p != "/opt/ort/libonnxruntime.so" {
		t.Errorf("explicit path: got %q", p)
	}
	t.Setenv(EnvLibrary, "/env/libonnxruntime.so.1")
	if p, _ := findLibrary(""); p != "/env/libonnxruntime.so.1" {
		t.Errorf("env path: got %q", p)
	}
	t.Setenv(EnvLibrary, "")
	if err := os.MkdirAll("third_party/onnxruntime", 0o755); err != nil {
		t.Fatal(err)
	}
	if p, searched := findLibrary(""); p != "" && !strings.HasPrefix(p, "/usr") {
		t.Errorf("nothing in the working directory: got %q (searched %v)", p, searched)
	}
	if err := os.WriteFile("third_party/onnxruntime/libonnxruntime.so.1.24.1", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if p, _ := findLibrary(""); p != filepath.Join(wd, "third_party/onnxruntime/libonnxruntime.so.1.24.1") {
		t.Errorf("working directory: got %q", p)
	}
}
