package inference

import "fmt"

// ApplyTabularOverride merges a user-given signature into a tabular model's
// own input and output specs, for formats that carry no (or poor) names:
// the input's name, numeric datatype and feature names (as many as the
// model has), and the output's name and labels (one per value in a row).
// Datatypes other than the input's, and shapes, stay the model's. Errors
// wrap ErrInvalidOptions and name the field at fault.
func ApplyTabularOverride(in, out *TensorSpec, user *Signature) error {
	if user == nil {
		return nil
	}
	switch len(user.Inputs) {
	case 0:
	case 1:
		u := user.Inputs[0]
		if u.Name != "" {
			in.Name = u.Name
		}
		if u.Datatype != "" {
			if !u.Datatype.IsNumeric() {
				return fmt.Errorf("%w: signature.inputs[0].datatype: %s is not numeric", ErrInvalidOptions, u.Datatype)
			}
			in.Datatype = u.Datatype
		}
		if len(u.Features) > 0 {
			if len(u.Features) != len(in.Features) {
				return fmt.Errorf("%w: signature.inputs[0].features: has %d features, the model has %d", ErrInvalidOptions, len(u.Features), len(in.Features))
			}
			in.Features = u.Features
		}
		if u.AllowMissing && !in.AllowMissing {
			return fmt.Errorf("%w: signature.inputs[0].allow_missing: the model does not accept missing values", ErrInvalidOptions)
		}
	default:
		return fmt.Errorf("%w: signature.inputs: has %d inputs, the model takes 1", ErrInvalidOptions, len(user.Inputs))
	}
	switch len(user.Outputs) {
	case 0:
	case 1:
		u := user.Outputs[0]
		if u.Name != "" {
			out.Name = u.Name
		}
		if len(u.Labels) > 0 {
			n := 1
			if len(out.Shape) >= 2 {
				n = int(out.Shape[len(out.Shape)-1])
			}
			if len(u.Labels) != n {
				return fmt.Errorf("%w: signature.outputs[0].labels: has %d labels, the model outputs %d values per row", ErrInvalidOptions, len(u.Labels), n)
			}
			out.Labels = u.Labels
		}
	default:
		return fmt.Errorf("%w: signature.outputs: has %d outputs, the model has 1", ErrInvalidOptions, len(user.Outputs))
	}
	return nil
}
