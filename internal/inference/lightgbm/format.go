package lightgbm

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

// Format loads LightGBM text models. Its zero value is ready to use.
type Format struct{}

var _ inference.Format = Format{}

// Name returns "lightgbm".
func (Format) Name() string { return "lightgbm" }

// Detect reports whether artifact starts like a LightGBM text model: a
// "tree" line followed by a "version=" line.
func (Format) Detect(artifact []byte) bool {
	first, rest, ok := bytes.Cut(artifact, []byte("\n"))
	if !ok || string(bytes.TrimSuffix(first, []byte("\r"))) != "tree" {
		return false
	}
	return bytes.HasPrefix(rest, []byte("version="))
}

// Load parses a LightGBM text model. Errors about the artifact wrap
// inference.ErrInvalidModel and name the line or tree at fault; errors about
// opts do not.
func (Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw := false
	for k, v := range opts.Params {
		switch k {
		case "raw_score":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("lightgbm: %w: params.raw_score: %q is not true or false", inference.ErrInvalidOptions, v)
			}
			raw = b
		default:
			return nil, fmt.Errorf("lightgbm: %w: params.%s: unknown parameter (known: raw_score)", inference.ErrInvalidOptions, k)
		}
	}
	threads := opts.Threads
	if threads < 0 {
		return nil, fmt.Errorf("lightgbm: %w: threads is %d: must not be negative (0 means GOMAXPROCS)", inference.ErrInvalidOptions, threads)
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}

	e, err := parseEnsemble(string(artifact))
	if err != nil {
		return nil, err
	}
	m := &Model{
		numFeatures: e.numFeatures,
		numOut:      e.treesPerIter,
		numIter:     len(e.trees) / e.treesPerIter,
		trees:       e.trees,
		average:     e.average,
		obj:         e.obj,
		raw:         raw || e.obj.conv == identity,
		threads:     threads,
	}
	if m.sig, err = signature(e, raw, opts.Signature); err != nil {
		return nil, err
	}
	m.inName = m.sig.Inputs[0].Name
	m.outName = m.sig.Outputs[0].Name
	return m, nil
}

// signature builds the model's signature from the file, then applies the
// caller's overrides.
func signature(e *ensemble, raw bool, user *inference.Signature) (inference.Signature, error) {
	features := make([]inference.Feature, e.numFeatures)
	for i, n := range e.featureNames {
		features[i] = inference.Feature{Name: n, Type: "float"}
		if e.categorical[i] {
			features[i].Type = "categorical"
		}
	}
	in := inference.TensorSpec{
		Name:         "input",
		Datatype:     inference.FP64,
		Shape:        []int64{-1, int64(e.numFeatures)},
		Features:     features,
		AllowMissing: true,
	}
	k := e.treesPerIter
	out := inference.TensorSpec{Name: "predict", Datatype: inference.FP64, Shape: []int64{-1}}
	if k > 1 {
		out.Name = "probabilities"
		if raw || (e.obj.conv != softmax && e.obj.conv != sigmoidEach) {
			out.Name = "scores"
		}
		out.Shape = []int64{-1, int64(k)}
		out.Labels = make([]string, k)
		for i := range out.Labels {
			out.Labels[i] = strconv.Itoa(i)
		}
	}

	if err := inference.ApplyTabularOverride(&in, &out, user); err != nil {
		return inference.Signature{}, fmt.Errorf("lightgbm: %w", err)
	}
	sig := inference.Signature{Inputs: []inference.TensorSpec{in}, Outputs: []inference.TensorSpec{out}}
	if err := sig.Validate(); err != nil {
		return inference.Signature{}, fmt.Errorf("lightgbm: %w: %w", inference.ErrInvalidOptions, err)
	}
	return sig, nil
}
