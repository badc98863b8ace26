//go:build cgo

package onnx

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

func wantInputError(t *testing.T, err error, field string) {
	t.Helper()
	var ie *inference.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v, want *inference.InputError", err)
	}
	if !strings.HasPrefix(ie.Field, field) {
		t.Errorf("InputError field = %q (%v), want %q", ie.Field, err, field)
	}
}

func TestBadModels(t *testing.T) {
	f := testFormat(t)
	mlp := readFile(t, readMLP(t).model)
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 2048)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, c := range []struct {
		name     string
		artifact []byte
	}{
		{"empty", nil},
		{"truncated-half", mlp[:len(mlp)/2]},
		{"truncated-end", mlp[:len(mlp)-7]},
		{"random", random},
		{"json", readFile(t, filepath.Join(repoRoot(t), "examples", "onnx", "breast_cancer_mlp.expected.json"))},
		{"tensorproto", readFile(t, "testdata/onnx-backend/test_softmax_example/test_data_set_0/input_0.pb")},
		{"first-100-bytes", mlp[:100]},
		{"unsupported-operator", readFile(t, "testdata/bad/gemm_opset6.onnx")},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := f.Load(context.Background(), c.artifact, inference.LoadOptions{})
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Fatalf("Load = %v, %v; want an error wrapping ErrInvalidModel", m, err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestLoadOptionErrors(t *testing.T) {
	f := testFormat(t)
	mlp := readFile(t, readMLP(t).model)
	for _, c := range []struct {
		name string
		opts inference.LoadOptions
		want string
	}{
		{"unknown-param", inference.LoadOptions{Params: map[string]string{"onnx.arena": "on"}}, "params.onnx.arena: unknown parameter"},
		{"bad-level", inference.LoadOptions{Params: map[string]string{"graph_optimization_level": "99"}}, "params.graph_optimization_level"},
		{"features", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Features: []inference.Feature{{Name: "a"}}}}}}, "1 names, but the model's \"input\" has 30 columns"},
		{"output", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32}}, Outputs: []inference.TensorSpec{{Name: "label", Datatype: inference.INT64}}}}, `no output "label"`},
	} {
		_, err := f.Load(context.Background(), mlp, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, inference.ErrInvalidModel) {
			t.Errorf("%s: Load = %v, want a plain error containing %q", c.name, err, c.want)
		}
	}
}

func TestSessionParams(t *testing.T) {
	fx := readMLP(t)
	for _, params := range []map[string]string{
		{"intra_op_threads": "1", "graph_optimization_level": "disable"},
		{"onnx.intra_op_threads": "2", "onnx.inter_op_threads": "2", "onnx.execution_mode": "parallel", "onnx.graph_optimization_level": "extended"},
		{"graph_optimization_level": "basic", "threads": "1", "sluice.signature": "user"},
	} {
		m := load(t, fx.model, inference.LoadOptions{Params: params})
		out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{1, 30}, F64: fx.rows[0]}})
		if err != nil {
			t.Fatalf("%v: %v", params, err)
		}
		if d := float64(out[0].F32[1]) - fx.want[0][1]; d > 1e-5 || d < -1e-5 {
			t.Errorf("%v: p1 = %g, want %g", params, out[0].F32[1], fx.want[0][1])
		}
	}
}

func TestMLPSignature(t *testing.T) {
	fx := readMLP(t)
	sig := load(t, fx.model, inference.LoadOptions{}).Signature()
	in, ok := sig.TabularInput()
	if !ok || in.Name != "input" || in.Datatype != inference.FP32 || len(in.Features) != 30 || in.Features[29].Name != "f29" {
		t.Errorf("default signature input = %+v, want FP32 [-1 30] with features f0..f29", in)
	}
	sig = load(t, fx.model, inference.LoadOptions{Signature: fx.signature()}).Signature()
	if err := sig.Validate(); err != nil {
		t.Fatal(err)
	}
	if in := sig.Inputs[0]; in.Features[0].Name != "mean_radius" || len(sig.Outputs) != 1 || sig.Outputs[0].Name != "probabilities" {
		t.Errorf("signature with names = %+v", sig)
	}
}

func TestPredictInputErrors(t *testing.T) {
	m := load(t, "testdata/onnx-backend/test_gemm_default_matrix_bias/model.onnx", inference.LoadOptions{})
	// Gemm: a [3,6] x b [6,4] + c [3,4], all FLOAT.
	zeros := func(name string, shape ...int64) inference.Tensor {
		n, _ := inference.NumElements(shape)
		return inference.Tensor{Name: name, Datatype: inference.FP32, Shape: shape, F32: make([]float32, n)}
	}
	a, b, c := zeros("a", 3, 6), zeros("b", 6, 4), zeros("c", 3, 4)
	if _, err := m.Predict(context.Background(), []inference.Tensor{c, a, b}); err != nil {
		t.Fatalf("inputs in any order: %v", err)
	}
	bytesA := inference.Tensor{Name: "a", Datatype: inference.BYTES, Shape: []int64{3, 6}, Bytes: make([][]byte, 18)}
	wideB := zeros("b", 6, 5)
	for _, tc := range []struct {
		name  string
		in    []inference.Tensor
		field string
	}{
		{"none", nil, "inputs"},
		{"missing", []inference.Tensor{a, b}, "inputs"},
		{"unknown", []inference.Tensor{a, b, c, {Name: "d", Datatype: inference.FP32, Shape: []int64{1}, F32: []float32{1}}}, "inputs[3].name"},
		{"twice", []inference.Tensor{a, b, c, a}, "inputs[3].name"},
		{"bytes", []inference.Tensor{bytesA, b, c}, "a.datatype"},
		{"static-dim", []inference.Tensor{a, wideB, c}, "b.shape"},
		{"data-shape", []inference.Tensor{a, b, {Name: "c", Datatype: inference.FP32, Shape: []int64{3, 4}, F32: make([]float32, 11)}}, "c.data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Predict(context.Background(), tc.in)
			wantInputError(t, err, tc.field)
		})
	}
}

func TestCloseAndContext(t *testing.T) {
	fx := readMLP(t)
	m := load(t, fx.model, inference.LoadOptions{})
	in := []inference.Tensor{{Name: "input", Datatype: inference.FP64, Shape: []int64{1, 30}, F64: fx.rows[0]}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict(cancelled) = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if _, err := m.Predict(ctx, in); err != nil {
		t.Errorf("Predict(cancellable context) = %v", err)
	}

	// Close while predictions run: each either succeeds or says closed.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := m.Predict(context.Background(), in); err != nil && !errors.Is(err, errClosed) {
					t.Errorf("Predict during Close: %v", err)
					return
				}
			}
		}()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := m.Predict(context.Background(), in); !errors.Is(err, errClosed) {
		t.Errorf("Predict after Close = %v, want errClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestUnavailableLibrary(t *testing.T) {
	mlp := readFile(t, readMLP(t).model)
	// Whether or not another test loaded the runtime, a bad explicit path
	// is ErrUnavailable (missing, or "already loaded from elsewhere").
	_, err := New(Options{LibraryPath: "/nonexistent/libonnxruntime.so.1.24.1"}).Load(context.Background(), mlp, inference.LoadOptions{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "SLUICE_ONNXRUNTIME_LIB") {
		t.Errorf("Load with a missing library = %v, want ErrUnavailable with advice", err)
	}
}

// TestInitRetry runs in a fresh process (the runtime loads once per
// process): a failed load with a bad path, then a good one, must work.
func TestInitRetry(t *testing.T) {
	lib := testLibrary(t)
	if os.Getenv("ONNX_TEST_INIT_RETRY") == "1" {
		mlp := readFile(t, readMLP(t).model)
		t.Setenv(EnvLibrary, "")
		bad := filepath.Join(t.TempDir(), "libonnxruntime.so.1.24.1")
		if err := os.WriteFile(bad, []byte("not a library"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/nonexistent/libonnxruntime.so", bad} {
			_, err := New(Options{LibraryPath: p}).Load(context.Background(), mlp, inference.LoadOptions{})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Load with %s = %v, want ErrUnavailable", p, err)
			}
			t.Logf("%s: %v", p, err)
		}
		t.Chdir(t.TempDir())
		if p, _ := findLibrary(""); p == "" {
			_, err := Format{}.Load(context.Background(), mlp, inference.LoadOptions{})
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "scripts/onnxruntime.sh") {
				t.Fatalf("Load with no library anywhere = %v, want ErrUnavailable with advice", err)
			}
			t.Logf("no library: %v", err)
		}
		m, err := New(Options{LibraryPath: lib}).Load(context.Background(), mlp, inference.LoadOptions{})
		if err != nil {
			t.Fatalf("Load after failures: %v", err)
		}
		_ = m.(*Model).Close()
		if v := RuntimeVersion(); v != "1.24.1" {
			t.Errorf("RuntimeVersion = %q, want 1.24.1", v)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitRetry$", "-test.v")
	cmd.Env = append(os.Environ(), "ONNX_TEST_INIT_RETRY=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("subprocess: %v\n%s", err, out)
	}
	t.Logf("subprocess:\n%s", out)
}
