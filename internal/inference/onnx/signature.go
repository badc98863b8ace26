package onnx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// ioSpec describes one model input or output: what ONNX Runtime reports,
// completed from the graph and the user's signature.
type ioSpec struct {
	// name is the tensor's name in the model; reqName the name requests use
	// (they differ only when the user's signature renames the only input).
	name, reqName string
	// kind is kindTensor, or kindSequence for a sequence of maps (ZipMap).
	kind valueKind
	// elem is the tensor's element type, or the maps' value type.
	elem elemType
	// key is the maps' key type (INT64 or STRING).
	key elemType
	// dims is the shape with -1 for a symbolic dimension; nil when the rank
	// is unknown, empty for a scalar.
	dims []int64
	// labels are the ZipMap class labels, in column order, when known.
	labels []string
}

// modelInput makes an ioSpec from what ONNX Runtime reports for an input
// and what the graph declares. ortDims of length 0 is a scalar only if the
// graph declares a shape.
func modelInput(name string, kind valueKind, et elemType, ortDims []int64, g graphInfo) (ioSpec, error) {
	s := ioSpec{name: name, reqName: name, kind: kind, elem: et, dims: tensorDims(name, ortDims, g.inputs)}
	if kind != kindTensor {
		return s, fmt.Errorf("onnx: %w: input %q is %s; Sluice sends only tensors", inference.ErrInvalidModel, name, describeType(kind, g.inputs[name]))
	}
	if _, ok := et.datatype(); !ok {
		return s, fmt.Errorf("onnx: %w: input %q has element type %s, which Sluice cannot send", inference.ErrInvalidModel, name, et)
	}
	return s, nil
}

// modelOutput is modelInput for an output. Sequences of maps are accepted
// (sklearn-onnx's ZipMap probabilities); other non-tensor outputs are not.
func modelOutput(name string, kind valueKind, et elemType, ortDims []int64, g graphInfo) (ioSpec, error) {
	s := ioSpec{name: name, reqName: name, kind: kind, elem: et, dims: tensorDims(name, ortDims, g.outputs)}
	unsupported := func(what string) error {
		return fmt.Errorf("onnx: %w: output %q is %s; Sluice returns tensors and sequences of maps (ZipMap) only: list the outputs you want in the signature to leave it out", inference.ErrInvalidModel, name, what)
	}
	switch kind {
	case kindTensor:
		if _, ok := et.datatype(); !ok {
			return s, unsupported("a tensor of " + et.String())
		}
		return s, nil
	case kindSequence:
		t := g.outputs[name]
		if t == nil || t.kind != kindSequence || t.inner == nil || t.inner.kind != kindMap ||
			t.inner.inner == nil || t.inner.inner.kind != kindTensor {
			return s, unsupported(describeType(kind, t))
		}
		m := t.inner
		if (m.elem != elemInt64 && m.elem != elemString) || (m.inner.elem != elemFloat && m.inner.elem != elemDouble) {
			return s, unsupported("a " + t.String())
		}
		s.key, s.elem = m.elem, m.inner.elem
		s.labels = g.labels[name]
		s.dims = []int64{-1, -1}
		if s.labels != nil {
			s.dims[1] = int64(len(s.labels))
		}
		return s, nil
	}
	return s, unsupported(describeType(kind, g.outputs[name]))
}

// describeType names a value's type with an article: "a sequence(tensor(FLOAT))".
func describeType(kind valueKind, t *typeInfo) string {
	s := kind.String()
	if t != nil && t.kind == kind {
		s = t.String()
	}
	if strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
}

// tensorDims returns ONNX Runtime's dims, or nil (unknown rank) when ORT
// reports no dimensions and the graph declares no shape.
func tensorDims(name string, ortDims []int64, declared map[string]*typeInfo) []int64 {
	if len(ortDims) > 0 {
		return append([]int64{}, ortDims...)
	}
	if t := declared[name]; t != nil && t.kind == kindTensor && t.hasShape && t.rank == 0 {
		return []int64{}
	}
	return nil
}

// spec returns the signature entry of s.
func (s *ioSpec) spec() inference.TensorSpec {
	dt, _ := s.elem.datatype()
	ts := inference.TensorSpec{Name: s.reqName, Datatype: dt, Labels: s.labels}
	if s.dims != nil {
		ts.Shape = append([]int64{}, s.dims...)
	}
	return ts
}

// buildSignature makes the model's signature from its inputs and outputs
// and the user's signature, if any. It returns the inputs (in model order)
// and the outputs Predict returns (all, in model order, or those the user's
// signature lists, in its order).
//
// Without a user signature, a single [N, F] numeric input with a static F
// gets features f0..f(F-1), like XGBoost models without feature names, so
// the gateway's named-feature forms work. A user signature may name the
// features (its input has the model's input name, or any name when the
// model has one input), fix symbolic dimensions, and choose the outputs;
// datatypes must be the model's.
func buildSignature(ins, outs []ioSpec, user *inference.Signature) (inference.Signature, []ioSpec, []ioSpec, error) {
	var sig inference.Signature
	for i := range ins {
		sig.Inputs = append(sig.Inputs, ins[i].spec())
	}
	if len(ins) == 1 {
		defaultFeatures(&sig.Inputs[0])
	}
	if user != nil {
		for i, u := range user.Inputs {
			j := indexOf(ins, u.Name)
			if j < 0 && len(ins) == 1 && len(user.Inputs) == 1 {
				j = 0
				ins[0].reqName = u.Name
			}
			path := fmt.Sprintf("signature.inputs[%d]", i)
			if j < 0 {
				return sig, nil, nil, fmt.Errorf("onnx: %s.name: the model has no input %q (it takes %s)", path, u.Name, names(ins))
			}
			merged, err := mergeSpec(path, ins[j].spec(), u)
			if err != nil {
				return sig, nil, nil, err
			}
			ins[j].dims = merged.Shape
			sig.Inputs[j] = merged
		}
	}
	if user == nil || len(user.Outputs) == 0 {
		for i := range outs {
			sig.Outputs = append(sig.Outputs, outs[i].spec())
		}
		return sig, ins, outs, nil
	}
	var selected []ioSpec
	for i, u := range user.Outputs {
		path := fmt.Sprintf("signature.outputs[%d]", i)
		j := indexOf(outs, u.Name)
		if j < 0 {
			return sig, nil, nil, fmt.Errorf("onnx: %s.name: the model has no output %q (it returns %s)", path, u.Name, names(outs))
		}
		if indexOf(selected, u.Name) >= 0 {
			return sig, nil, nil, fmt.Errorf("onnx: %s.name: output %q is listed twice", path, u.Name)
		}
		merged, err := mergeSpec(path, outs[j].spec(), u)
		if err != nil {
			return sig, nil, nil, err
		}
		o := outs[j]
		o.dims = merged.Shape
		selected = append(selected, o)
		sig.Outputs = append(sig.Outputs, merged)
	}
	return sig, ins, selected, nil
}

// defaultFeatures names the columns of a [N, F] numeric input f0..f(F-1).
func defaultFeatures(ts *inference.TensorSpec) {
	if len(ts.Shape) != 2 || ts.Shape[1] <= 0 || ts.Datatype == inference.BYTES {
		return
	}
	typ := ""
	switch {
	case ts.Datatype == inference.BOOL:
		typ = "bool"
	case ts.Datatype.IsInteger():
		typ = "int"
	}
	ts.Features = make([]inference.Feature, ts.Shape[1])
	for j := range ts.Features {
		ts.Features[j] = inference.Feature{Name: "f" + strconv.Itoa(j), Type: typ}
	}
}

// mergeSpec applies the user's entry u to the model's spec m.
func mergeSpec(path string, m, u inference.TensorSpec) (inference.TensorSpec, error) {
	if u.Datatype != "" && u.Datatype != m.Datatype {
		return m, fmt.Errorf("onnx: %s.datatype: %s, but the model's %q is %s (requests may still send other numeric types; see docs/formats/onnx.md)", path, u.Datatype, m.Name, m.Datatype)
	}
	shape := m.Shape
	if len(u.Shape) > 0 {
		if shape != nil && len(u.Shape) != len(shape) {
			return m, fmt.Errorf("onnx: %s.shape: %v has rank %d, but the model's %q has shape %v", path, u.Shape, len(u.Shape), m.Name, shape)
		}
		merged := append([]int64{}, u.Shape...)
		for k, d := range merged {
			if d < -1 {
				return m, fmt.Errorf("onnx: %s.shape[%d]: %d is not a size or -1", path, k, d)
			}
			if shape != nil && shape[k] >= 0 {
				if d >= 0 && d != shape[k] {
					return m, fmt.Errorf("onnx: %s.shape[%d]: %d, but the model's %q has %d there", path, k, d, m.Name, shape[k])
				}
				merged[k] = shape[k]
			}
		}
		shape = merged
	}
	out := m
	out.Name = u.Name
	out.Shape = shape
	out.AllowMissing = u.AllowMissing
	if u.Labels != nil {
		out.Labels = u.Labels
	}
	if u.Features != nil {
		if len(shape) != 2 {
			return m, fmt.Errorf("onnx: %s.features: the model's %q has shape %v, and only a [N, F] input has features", path, m.Name, shape)
		}
		if shape[1] >= 0 && int64(len(u.Features)) != shape[1] {
			return m, fmt.Errorf("onnx: %s.features: %d names, but the model's %q has %d columns", path, len(u.Features), m.Name, shape[1])
		}
		out.Shape = []int64{shape[0], int64(len(u.Features))}
		out.Features = u.Features
	}
	return out, nil
}

func indexOf(specs []ioSpec, name string) int {
	for i := range specs {
		if specs[i].name == name {
			return i
		}
	}
	return -1
}

func names(specs []ioSpec) string {
	q := make([]string, len(specs))
	for i := range specs {
		q[i] = strconv.Quote(specs[i].name)
	}
	return strings.Join(q, ", ")
}

// prepareInput checks a request tensor against the model input s and
// converts its data (see inputData). It returns the shape to send: the
// request's, or [1, F] for a single row sent as [F] to a [N, F] input.
func prepareInput(t *inference.Tensor, s *ioSpec) ([]int64, any, error) {
	if err := t.Validate(); err != nil {
		return nil, nil, err
	}
	shape := t.Shape
	if s.dims != nil {
		if len(shape) == 1 && len(s.dims) == 2 && s.dims[1] >= 0 && shape[0] == s.dims[1] && s.dims[0] != 0 {
			shape = []int64{1, shape[0]}
		}
		if len(shape) != len(s.dims) {
			return nil, nil, inference.Inputf(t.Name+".shape", "is %v, want rank %d %s", t.Shape, len(s.dims), dimsString(s.dims))
		}
		for k, d := range s.dims {
			if d >= 0 && shape[k] != d {
				return nil, nil, inference.Inputf(t.Name+".shape", "is %v, want %s", t.Shape, dimsString(s.dims))
			}
		}
	}
	data, err := inputData(t, s.elem)
	if err != nil {
		return nil, nil, err
	}
	return shape, data, nil
}

// dimsString renders model dims with "N" for the first symbolic dimension
// and "?" for others: [N,30].
func dimsString(dims []int64) string {
	parts := make([]string, len(dims))
	for k, d := range dims {
		switch {
		case d >= 0:
			parts[k] = strconv.FormatInt(d, 10)
		case k == 0:
			parts[k] = "N"
		default:
			parts[k] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
