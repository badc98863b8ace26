package gateway

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// adaptInputs checks request tensors against the backend's signature. For a
// tabular model it also accepts one tensor per feature (shape [N] or [N,1],
// named after the feature, the "columnar" form MLServer and pandas clients
// send) and assembles them into the model's [N, F] input.
func adaptInputs(in []inference.Tensor, b *Backend) ([]inference.Tensor, error) {
	if len(in) == 0 {
		return nil, inference.Inputf("inputs", "at least one input tensor is required")
	}
	if b.isTabular && (len(in) > 1 || in[0].Name != b.tabular.Name) {
		if _, isFeature := featureIndex(b.tabular.Features, in[0].Name); isFeature {
			return assembleColumns(in, b.tabular)
		}
	}
	for i := range in {
		if !hasInput(b.sig.Inputs, in[i].Name) {
			return nil, inference.Inputf(fmt.Sprintf("inputs[%d].name", i), "unknown input %q; the model takes %s", in[i].Name, inputNames(b.sig.Inputs))
		}
	}
	return in, nil
}

func hasInput(specs []inference.TensorSpec, name string) bool {
	for _, s := range specs {
		if s.Name == name {
			return true
		}
	}
	return false
}

func inputNames(specs []inference.TensorSpec) string {
	s := ""
	for i, sp := range specs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", sp.Name)
	}
	return s
}

func featureIndex(fs []inference.Feature, name string) (int, bool) {
	for i, f := range fs {
		if f.Name == name {
			return i, true
		}
	}
	return 0, false
}

// assembleColumns builds an FP64 [N, F] tensor from one tensor per feature.
func assembleColumns(in []inference.Tensor, spec inference.TensorSpec) ([]inference.Tensor, error) {
	cols := len(spec.Features)
	rows := -1
	set := make([]bool, cols)
	var data []float64
	for i := range in {
		t := &in[i]
		field := fmt.Sprintf("inputs[%d]", i)
		j, ok := featureIndex(spec.Features, t.Name)
		if !ok {
			return nil, inference.Inputf(field+".name", "unknown feature %q", t.Name)
		}
		if set[j] {
			return nil, inference.Inputf(field+".name", "feature %q given twice", t.Name)
		}
		set[j] = true
		if len(t.Shape) == 0 || len(t.Shape) > 2 || (len(t.Shape) == 2 && t.Shape[1] != 1) {
			return nil, inference.Inputf(field+".shape", "is %v, want [N] or [N,1] for a feature column", t.Shape)
		}
		col := *t
		col.Shape = []int64{t.Shape[0], 1} // [N] and [N,1] both read as N rows
		n, vals, err := inference.Dense64(&col, 1)
		if err != nil {
			return nil, err
		}
		if rows == -1 {
			rows = n
			data = make([]float64, rows*cols)
			for k := range data {
				data[k] = math.NaN()
			}
		} else if n != rows {
			return nil, inference.Inputf(field+".shape", "has %d rows, earlier inputs have %d", n, rows)
		}
		for r := 0; r < rows; r++ {
			data[r*cols+j] = vals[r]
		}
	}
	if !spec.AllowMissing {
		for j, ok := range set {
			if !ok {
				return nil, inference.Inputf("inputs", "missing feature %q; the model does not accept missing values", spec.Features[j].Name)
			}
		}
	}
	return []inference.Tensor{{Name: spec.Name, Datatype: inference.FP64, Shape: []int64{int64(rows), int64(cols)}, F64: data}}, nil
}

// selectOutputs returns only the requested outputs, in request order: all
// itself when that is what the request asks for.
func selectOutputs(all []inference.Tensor, want []oip.RequestedOutput) ([]inference.Tensor, error) {
	if len(want) == len(all) {
		same := true
		for i := range want {
			if want[i].Name != all[i].Name {
				same = false
				break
			}
		}
		if same {
			return all, nil
		}
	}
	out := make([]inference.Tensor, 0, len(want))
	for i, w := range want {
		found := false
		for _, t := range all {
			if t.Name == w.Name {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			names := make([]inference.TensorSpec, len(all))
			for k, t := range all {
				names[k].Name = t.Name
			}
			return nil, inference.Inputf(fmt.Sprintf("outputs[%d].name", i), "unknown output %q; the model returns %s", w.Name, inputNames(names))
		}
	}
	return out, nil
}

// metadata is the Open Inference Protocol model metadata response.
type metadata struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []tensorMeta `json:"inputs"`
	Outputs  []tensorMeta `json:"outputs"`
}

type tensorMeta struct {
	Name     string              `json:"name"`
	Datatype inference.Datatype  `json:"datatype"`
	Shape    []int64             `json:"shape"`
	Features []inference.Feature `json:"features,omitempty"`
	Labels   []string            `json:"labels,omitempty"`
}

func specs(ts []inference.TensorSpec) []tensorMeta {
	out := make([]tensorMeta, len(ts))
	for i, t := range ts {
		out[i] = tensorMeta{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape, Features: t.Features, Labels: t.Labels}
		if out[i].Shape == nil {
			out[i].Shape = []int64{}
		}
	}
	return out
}

func marshal(v any) ([]byte, error) { return json.Marshal(v) }
