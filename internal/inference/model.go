package inference

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Model is a loaded model version, ready to score. Implementations are safe
// for concurrent use by many goroutines.
type Model interface {
	// Signature describes the inputs the model accepts and the outputs it
	// returns.
	Signature() Signature
	// Predict scores a batch. Input errors (wrong name, datatype or shape)
	// are returned as *InputError so callers can answer 4xx.
	Predict(ctx context.Context, inputs []Tensor) ([]Tensor, error)
}

// PredictorAt is implemented by models that read the clock as a
// prediction begins, for its deadline or its connection's idle time. A
// caller that has just read the clock passes the time it read, sparing
// the model a second reading; start must be the current time, not one
// from the past. PredictAt(ctx, time.Now(), inputs) is Predict(ctx,
// inputs).
type PredictorAt interface {
	PredictAt(ctx context.Context, start time.Time, inputs []Tensor) ([]Tensor, error)
}

// Warmer is implemented by models that benefit from a first call before
// they take traffic (allocating buffers, JIT, connection set-up).
type Warmer interface {
	Warm(ctx context.Context) error
}

// Signature describes a model's inputs and outputs.
type Signature struct {
	Inputs  []TensorSpec `json:"inputs"`
	Outputs []TensorSpec `json:"outputs"`
}

// TensorSpec describes one input or output tensor. A dimension of -1 is
// variable (usually the batch dimension).
type TensorSpec struct {
	// Name of the tensor, as used in Open Inference Protocol requests.
	Name string `json:"name"`
	// Datatype of the elements.
	Datatype Datatype `json:"datatype"`
	// Shape with -1 for a variable dimension.
	Shape []int64 `json:"shape"`
	// Features names the columns of a tabular [N, F] input, in order.
	Features []Feature `json:"features,omitempty"`
	// AllowMissing reports whether NaN (a missing value) is accepted for
	// any feature; tree models route it down each split's default branch.
	AllowMissing bool `json:"allow_missing,omitempty"`
	// Labels names the classes along the last dimension of an output.
	Labels []string `json:"labels,omitempty"`
}

// Feature is one named column of a tabular input.
type Feature struct {
	// Name of the feature, as sent in {"instances":[{"name": value}]}.
	Name string `json:"name"`
	// Type is "float", "int", "bool" or "categorical"; empty means float.
	Type string `json:"type,omitempty"`
}

// Validate reports the first problem in a signature: missing names,
// unknown datatypes, duplicate feature names.
func (s *Signature) Validate() error {
	if len(s.Inputs) == 0 {
		return errors.New("signature.inputs: at least one input is required")
	}
	for i, in := range s.Inputs {
		if err := in.validate(fmt.Sprintf("signature.inputs[%d]", i)); err != nil {
			return err
		}
	}
	for i, out := range s.Outputs {
		if err := out.validate(fmt.Sprintf("signature.outputs[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (t *TensorSpec) validate(path string) error {
	if t.Name == "" {
		return fmt.Errorf("%s.name: must not be empty", path)
	}
	if _, err := ParseDatatype(string(t.Datatype)); err != nil {
		return fmt.Errorf("%s.datatype: %w", path, err)
	}
	seen := make(map[string]bool, len(t.Features))
	for i, f := range t.Features {
		if f.Name == "" {
			return fmt.Errorf("%s.features[%d].name: must not be empty", path, i)
		}
		if seen[f.Name] {
			return fmt.Errorf("%s.features[%d].name: %q appears twice", path, i, f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case "", "float", "int", "bool", "categorical":
		default:
			return fmt.Errorf("%s.features[%d].type: %q is not one of float, int, bool, categorical", path, i, f.Type)
		}
	}
	return nil
}

// TabularInput returns the single [N, F] input of a tabular model and true,
// or false when the model takes several or non-tabular inputs.
func (s *Signature) TabularInput() (TensorSpec, bool) {
	if len(s.Inputs) != 1 || len(s.Inputs[0].Features) == 0 {
		return TensorSpec{}, false
	}
	return s.Inputs[0], true
}

// Errors a Model's Predict returns (wrapped) when the fault is not the
// caller's input; the gateway maps them to status codes.
var (
	// ErrTimeout: the runtime did not answer in time (504).
	ErrTimeout = errors.New("model timed out")
	// ErrBackendUnavailable: the runtime (e.g. a remote model server) is
	// down or refused the call (503).
	ErrBackendUnavailable = errors.New("model backend unavailable")
)

// InputError is a problem with the caller's input. Field names the tensor,
// feature or field at fault, in the caller's terms.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Inputf returns an *InputError for field with a formatted message.
func Inputf(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
