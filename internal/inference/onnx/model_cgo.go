//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluicehq/sluice/internal/inference"
)

// Load creates an ONNX Runtime session for the model in artifact. A model
// ONNX Runtime refuses gives an error wrapping inference.ErrInvalidModel
// with ONNX Runtime's message; a missing library gives ErrUnavailable; bad
// params or signature give plain errors naming the field.
func (f Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := parseParams(opts)
	if err != nil {
		return nil, err
	}
	if len(artifact) == 0 {
		return nil, fmt.Errorf("onnx: %w: the artifact is empty", inference.ErrInvalidModel)
	}
	if err := ensureRuntime(f.opts.LibraryPath); err != nil {
		return nil, err
	}
	sig, ins, outs, err := describeModel(artifact, opts.Signature)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := newSession(artifact, ins, outs, cfg)
	if err != nil {
		return nil, err
	}
	m := &Model{sig: sig, inputs: ins, outputs: outs, h: &sessionHandle{s: sess}}
	// A Model dropped without Close still frees its session.
	runtime.AddCleanup(m, (*sessionHandle).close, m.h)
	return m, nil
}

// describeModel reads the model's inputs and outputs and makes its signature
// (see buildSignature). Outputs Sluice cannot return fail the load unless
// the user's signature leaves them out.
func describeModel(artifact []byte, user *inference.Signature) (inference.Signature, []ioSpec, []ioSpec, error) {
	var sig inference.Signature
	// onnxruntime_go reads input and output info through a throw-away
	// session; the C API has no way to ask the session we keep.
	ortIns, ortOuts, err := ort.GetInputOutputInfoWithONNXData(artifact)
	if err != nil {
		return sig, nil, nil, invalidModel(err)
	}
	g, gerr := readGraph(artifact)
	if gerr != nil {
		g = graphInfo{} // only sequences' types and ZipMap labels are lost
	}
	ins := make([]ioSpec, len(ortIns))
	for i, in := range ortIns {
		if ins[i], err = modelInput(in.Name, valueKindOf(in.OrtValueType), elemType(in.DataType), in.Dimensions, g); err != nil {
			return sig, nil, nil, err
		}
	}
	selected := map[string]bool{}
	if user != nil {
		for _, o := range user.Outputs {
			selected[o.Name] = true
		}
	}
	outs := make([]ioSpec, 0, len(ortOuts))
	for _, o := range ortOuts {
		s, err := modelOutput(o.Name, valueKindOf(o.OrtValueType), elemType(o.DataType), o.Dimensions, g)
		if err != nil {
			if len(selected) == 0 || selected[o.Name] {
				return sig, nil, nil, err
			}
			continue
		}
		outs = append(outs, s)
	}
	sig, ins, outs, err = buildSignature(ins, outs, user)
	if err != nil {
		return sig, nil, nil, err
	}
	for i := range outs {
		if err := checkReturnable(&outs[i]); err != nil {
			return sig, nil, nil, err
		}
	}
	if len(ins) == 0 || len(outs) == 0 {
		return sig, nil, nil, fmt.Errorf("onnx: %w: the model has %d inputs and %d outputs Sluice can use", inference.ErrInvalidModel, len(ins), len(outs))
	}
	return sig, ins, outs, nil
}

// invalidModel wraps an error from ONNX Runtime about the model itself.
func invalidModel(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		err = inner // drop onnxruntime_go's "Error creating temporary session"
	}
	return fmt.Errorf("onnx: %w: ONNX Runtime cannot load it: %v", inference.ErrInvalidModel, err)
}

func valueKindOf(t ort.ONNXType) valueKind {
	switch t {
	case ort.ONNXTypeTensor:
		return kindTensor
	case ort.ONNXTypeSequence:
		return kindSequence
	case ort.ONNXTypeMap:
		return kindMap
	case ort.ONNXTypeSparseTensor:
		return kindSparseTensor
	case ort.ONNXTypeOptional:
		return kindOptional
	}
	return kindUnknown
}

func newSession(artifact []byte, ins, outs []ioSpec, cfg sessionConfig) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: creating session options: %w", err)
	}
	defer so.Destroy()
	level := map[string]ort.GraphOptimizationLevel{
		"disable":  ort.GraphOptimizationLevelDisableAll,
		"basic":    ort.GraphOptimizationLevelEnableBasic,
		"extended": ort.GraphOptimizationLevelEnableExtended,
		"all":      ort.GraphOptimizationLevelEnableAll,
	}[cfg.optLevel]
	mode := ort.ExecutionMode(ort.ExecutionModeSequential)
	if cfg.parallel {
		mode = ort.ExecutionModeParallel
	}
	for _, set := range []struct {
		what string
		err  error
	}{
		{"intra_op_threads", so.SetIntraOpNumThreads(cfg.intraOp)},
		{"inter_op_threads", so.SetInterOpNumThreads(cfg.interOp)},
		{"graph_optimization_level", so.SetGraphOptimizationLevel(level)},
		{"execution_mode", so.SetExecutionMode(mode)},
	} {
		if set.err != nil {
			return nil, fmt.Errorf("onnx: setting %s: %w", set.what, set.err)
		}
	}
	inNames := make([]string, len(ins))
	for i := range ins {
		inNames[i] = ins[i].name
	}
	outNames := make([]string, len(outs))
	for i := range outs {
		outNames[i] = outs[i].name
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(artifact, inNames, outNames, so)
	if err != nil {
		return nil, invalidModel(err)
	}
	return s, nil
}

// sessionHandle lets Close and the cleanup of a dropped Model destroy the
// session while no Run uses it.
type sessionHandle struct {
	// mu guards s: Predict holds it for reading while it runs s.
	mu sync.RWMutex
	s  *ort.DynamicAdvancedSession
}

func (h *sessionHandle) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.s != nil {
		_ = h.s.Destroy()
		h.s = nil
	}
}

// Model is a loaded ONNX model: one ONNX Runtime session, which runs
// concurrent Predict calls in parallel. Close it to free the session.
type Model struct {
	sig     inference.Signature
	inputs  []ioSpec // model order
	outputs []ioSpec // the outputs Predict returns, in order
	h       *sessionHandle
}

var (
	_ inference.Model            = (*Model)(nil)
	_ interface{ Close() error } = (*Model)(nil)
)

// Signature returns the model's inputs and outputs.
func (m *Model) Signature() inference.Signature { return m.sig }

// Close destroys the session. Predict calls running finish first; later
// ones fail. Close is idempotent.
func (m *Model) Close() error {
	m.h.close()
	return nil
}

// errClosed is returned by Predict after Close.
var errClosed = errors.New("onnx: model is closed")

// Predict validates and converts inputs, runs the session and converts its
// outputs. Every model input must be given exactly once.
func (m *Model) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return nil, inference.Inputf("inputs", "at least one input tensor is required; the model takes %s", reqNames(m.inputs))
	}
	vals := make([]ort.Value, len(m.inputs)+len(m.outputs))
	defer destroyAll(vals)
	in, out := vals[:len(m.inputs)], vals[len(m.inputs):]
	for i := range inputs {
		t := &inputs[i]
		j := m.inputIndex(t.Name)
		if j < 0 {
			return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "unknown input %q; the model takes %s", t.Name, reqNames(m.inputs))
		}
		if in[j] != nil {
			return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "input %q is given twice", t.Name)
		}
		shape, data, err := prepareInput(t, &m.inputs[j])
		if err != nil {
			return nil, err
		}
		v, err := newValue(shape, data, m.inputs[j].elem)
		if err != nil {
			return nil, inference.Inputf(t.Name, "ONNX Runtime cannot make a tensor of it: %v", err)
		}
		in[j] = v
	}
	for j := range in {
		if in[j] == nil {
			return nil, inference.Inputf("inputs", "input %q is missing; the model takes %s", m.inputs[j].reqName, reqNames(m.inputs))
		}
	}
	for k := range m.outputs {
		v, err := preallocate(&m.outputs[k])
		if err != nil {
			return nil, fmt.Errorf("onnx: output %q: %w", m.outputs[k].name, err)
		}
		out[k] = v
	}
	if err := m.run(ctx, in, out); err != nil {
		return nil, err
	}
	res := make([]inference.Tensor, len(m.outputs))
	for k := range m.outputs {
		t, err := convertOutput(&m.outputs[k], out[k])
		if err != nil {
			return nil, err
		}
		res[k] = t
	}
	return res, nil
}

// run runs the session, stopping it early when ctx ends.
func (m *Model) run(ctx context.Context, in, out []ort.Value) error {
	var ro *ort.RunOptions
	if ctx.Done() != nil {
		var err error
		if ro, err = ort.NewRunOptions(); err != nil {
			return fmt.Errorf("onnx: creating run options: %w", err)
		}
		defer ro.Destroy()
		terminated := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(terminated)
			_ = ro.Terminate()
		})
		defer func() {
			if !stop() {
				<-terminated // Terminate is running: let it finish before Destroy
			}
		}()
	}
	m.h.mu.RLock()
	defer m.h.mu.RUnlock()
	if m.h.s == nil {
		return errClosed
	}
	if err := m.h.s.RunWithOptions(in, out, ro); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("onnx: run stopped: %w", ctxErr)
		}
		return fmt.Errorf("onnx: running the model: %w", err)
	}
	return nil
}

func (m *Model) inputIndex(name string) int {
	for i := range m.inputs {
		if m.inputs[i].reqName == name {
			return i
		}
	}
	return -1
}

func reqNames(specs []ioSpec) string {
	s := make([]ioSpec, len(specs))
	for i := range specs {
		s[i].name = specs[i].reqName
	}
	return names(s)
}

// destroyAll releases values. onnxruntime_go may leave a typed nil in an
// output slot when it fails to wrap a value, so those are skipped too.
func destroyAll(vals []ort.Value) {
	for _, v := range vals {
		if v != nil && !reflect.ValueOf(v).IsNil() {
			_ = v.Destroy()
		}
	}
}
