package linear

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// Format loads sluice.linear models. Its zero value is ready to use.
type Format struct{}

var _ inference.Format = Format{}

// Name returns "linear".
func (Format) Name() string { return "linear" }

// Detect reports whether artifact is a JSON object whose top-level "format"
// field names a version of the sluice.linear format (any version, so that
// Load can say which versions it supports).
func (Format) Detect(artifact []byte) bool {
	trimmed := bytes.TrimSpace(artifact)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(artifact, []byte(`"`+formatPrefix)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if tok == "format" {
			var f string
			return json.Unmarshal(v, &f) == nil && strings.HasPrefix(f, formatPrefix)
		}
	}
	return false
}

// Load decodes a sluice.linear/v1 model. Errors about the artifact wrap
// inference.ErrInvalidModel and name the JSON path at fault; errors about
// opts do not.
func (Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(opts.Params) > 0 {
		keys := make([]string, 0, len(opts.Params))
		for k := range opts.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("linear: %w: params.%s: unknown parameter (the linear format takes none)", inference.ErrInvalidOptions, keys[0])
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("linear: %w: threads is %d: must not be negative", inference.ErrInvalidOptions, opts.Threads)
	}
	s, err := decode(artifact)
	if err != nil {
		return nil, fmt.Errorf("linear: %w: %w", inference.ErrInvalidModel, err)
	}
	m := &Model{
		link:      s.link,
		numIn:     len(s.features),
		numOut:    len(s.intercept),
		intercept: s.intercept,
		means:     s.means,
		coef:      make([]float64, 0, len(s.intercept)*len(s.features)),
	}
	for _, row := range s.coefficients {
		m.coef = append(m.coef, row...)
	}
	if m.sig, err = signature(s, opts.Signature); err != nil {
		return nil, err
	}
	m.inName = m.sig.Inputs[0].Name
	m.outName = m.sig.Outputs[0].Name
	m.outCols = 1
	if s.task != "regression" {
		m.outCols = len(s.classes)
	}
	m.featureNames = make([]string, len(m.sig.Inputs[0].Features))
	for i, f := range m.sig.Inputs[0].Features {
		m.featureNames[i] = f.Name
	}
	return m, nil
}

// signature builds the model's signature from the document, then applies
// the caller's overrides.
func signature(s *spec, user *inference.Signature) (inference.Signature, error) {
	features := make([]inference.Feature, len(s.features))
	for i, f := range s.features {
		features[i] = inference.Feature{Name: f.name, Type: f.typ}
	}
	in := inference.TensorSpec{
		Name:     "input",
		Datatype: inference.FP64,
		Shape:    []int64{-1, int64(len(features))},
		Features: features,
	}
	out := inference.TensorSpec{Name: "predict", Datatype: inference.FP64, Shape: []int64{-1}}
	if s.task != "regression" {
		out.Name = "probabilities"
		out.Shape = []int64{-1, int64(len(s.classes))}
		out.Labels = s.classes
	}
	if err := inference.ApplyTabularOverride(&in, &out, user); err != nil {
		return inference.Signature{}, fmt.Errorf("linear: %w", err)
	}
	sig := inference.Signature{Inputs: []inference.TensorSpec{in}, Outputs: []inference.TensorSpec{out}}
	if err := sig.Validate(); err != nil {
		return inference.Signature{}, fmt.Errorf("linear: %w: %w", inference.ErrInvalidOptions, err)
	}
	return sig, nil
}
