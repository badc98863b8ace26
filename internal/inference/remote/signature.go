package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// decodeSignature strictly decodes the document's signature member: the
// JSON of inference.Signature, with unknown or repeated members reported
// at their path.
func decodeSignature(raw json.RawMessage, path string) (*inference.Signature, error) {
	obj, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(obj, path, "inputs", "outputs"); err != nil {
		return nil, err
	}
	sig := &inference.Signature{}
	for _, part := range []struct {
		key  string
		dst  *[]inference.TensorSpec
		need bool
	}{{"inputs", &sig.Inputs, true}, {"outputs", &sig.Outputs, false}} {
		raw, ok := obj[part.key]
		if !ok {
			if part.need {
				return nil, errorf(join(path, part.key), "missing")
			}
			continue
		}
		items, err := array(raw, join(path, part.key))
		if err != nil {
			return nil, err
		}
		for i, item := range items {
			spec, err := decodeTensorSpec(item, fmt.Sprintf("%s.%s[%d]", path, part.key, i))
			if err != nil {
				return nil, err
			}
			*part.dst = append(*part.dst, spec)
		}
	}
	return sig, nil
}

func decodeTensorSpec(raw json.RawMessage, path string) (inference.TensorSpec, error) {
	var t inference.TensorSpec
	obj, err := object(raw, path)
	if err != nil {
		return t, err
	}
	if err := onlyKeys(obj, path, "name", "datatype", "shape", "features", "allow_missing", "labels"); err != nil {
		return t, err
	}
	for _, req := range []string{"name", "datatype"} {
		if _, ok := obj[req]; !ok {
			return t, errorf(path+"."+req, "missing")
		}
	}
	if t.Name, err = str(obj["name"], path+".name"); err != nil {
		return t, err
	}
	dt, err := str(obj["datatype"], path+".datatype")
	if err != nil {
		return t, err
	}
	t.Datatype = inference.Datatype(dt)
	if raw, ok := obj["shape"]; ok {
		items, err := array(raw, path+".shape")
		if err != nil {
			return t, err
		}
		t.Shape = make([]int64, len(items))
		for i, item := range items {
			p := fmt.Sprintf("%s.shape[%d]", path, i)
			v, err := strconv.ParseInt(string(bytes.TrimSpace(item)), 10, 64)
			if err != nil || v < -1 {
				return t, errorf(p, "want a dimension (an integer, 0 or more, or -1 for any), got %s", strings.TrimSpace(string(item)))
			}
			t.Shape[i] = v
		}
	}
	if raw, ok := obj["features"]; ok {
		items, err := array(raw, path+".features")
		if err != nil {
			return t, err
		}
		for i, item := range items {
			p := fmt.Sprintf("%s.features[%d]", path, i)
			f, err := object(item, p)
			if err != nil {
				return t, err
			}
			if err := onlyKeys(f, p, "name", "type"); err != nil {
				return t, err
			}
			var feat inference.Feature
			if _, ok := f["name"]; !ok {
				return t, errorf(p+".name", "missing")
			}
			if feat.Name, err = str(f["name"], p+".name"); err != nil {
				return t, err
			}
			if raw, ok := f["type"]; ok {
				if feat.Type, err = str(raw, p+".type"); err != nil {
					return t, err
				}
			}
			t.Features = append(t.Features, feat)
		}
	}
	if raw, ok := obj["allow_missing"]; ok {
		switch strings.TrimSpace(string(raw)) {
		case "true":
			t.AllowMissing = true
		case "false":
		default:
			return t, errorf(path+".allow_missing", "want true or false, got %s", kind(raw))
		}
	}
	if raw, ok := obj["labels"]; ok {
		items, err := array(raw, path+".labels")
		if err != nil {
			return t, err
		}
		for i, item := range items {
			l, err := str(item, fmt.Sprintf("%s.labels[%d]", path, i))
			if err != nil {
				return t, err
			}
			t.Labels = append(t.Labels, l)
		}
	}
	return t, nil
}

// onlyKeys reports the first member of obj not in known.
func onlyKeys(obj map[string]json.RawMessage, path string, known ...string) error {
	for _, k := range sortedKeys(obj) {
		found := false
		for _, kk := range known {
			found = found || k == kk
		}
		if !found {
			return errorf(join(path, k), "unknown field (known: %s)", strings.Join(known, ", "))
		}
	}
	return nil
}

// mergeSignature applies the caller's signature (LoadOptions.Signature)
// over base, the artifact's or the server's. Each tensor of user
// overrides the one at the same index in base, field by field where
// given. With no base, user must be complete on its own.
func mergeSignature(base, user *inference.Signature) (*inference.Signature, error) {
	if user == nil {
		return base, nil
	}
	if base == nil {
		return user, nil
	}
	out := &inference.Signature{}
	for _, part := range []struct {
		name      string
		base, usr []inference.TensorSpec
		dst       *[]inference.TensorSpec
	}{{"inputs", base.Inputs, user.Inputs, &out.Inputs}, {"outputs", base.Outputs, user.Outputs, &out.Outputs}} {
		if len(part.usr) == 0 {
			*part.dst = part.base
			continue
		}
		if len(part.usr) != len(part.base) {
			return nil, fmt.Errorf("signature.%s: has %d tensors, the model has %d", part.name, len(part.usr), len(part.base))
		}
		for i, b := range part.base {
			u := part.usr[i]
			if u.Name != "" {
				b.Name = u.Name
			}
			if u.Datatype != "" {
				b.Datatype = u.Datatype
			}
			if u.Shape != nil {
				b.Shape = u.Shape
			}
			if u.Features != nil {
				b.Features = u.Features
			}
			if u.AllowMissing {
				b.AllowMissing = true
			}
			if u.Labels != nil {
				b.Labels = u.Labels
			}
			*part.dst = append(*part.dst, b)
		}
	}
	return out, nil
}

// complete reports whether sig can be used without asking the server:
// every input has a name and a datatype.
func complete(sig *inference.Signature) bool {
	if sig == nil || len(sig.Inputs) == 0 {
		return false
	}
	for _, in := range sig.Inputs {
		if in.Name == "" || in.Datatype == "" {
			return false
		}
	}
	return true
}

// checkFeatures reports a tabular input whose features disagree with its
// shape.
func checkFeatures(sig *inference.Signature) error {
	for i, in := range sig.Inputs {
		if len(in.Features) == 0 || len(in.Shape) == 0 {
			continue
		}
		if len(in.Shape) != 2 || in.Shape[1] != int64(len(in.Features)) && in.Shape[1] != -1 {
			return fmt.Errorf("signature.inputs[%d]: %d features do not fit shape %v (want [-1, %d])", i, len(in.Features), in.Shape, len(in.Features))
		}
	}
	return nil
}

// metadata is the Open Inference Protocol's model metadata response
// (GET /v2/models/{name}).
type metadata struct {
	Name    string         `json:"name"`
	Inputs  []metadataSpec `json:"inputs"`
	Outputs []metadataSpec `json:"outputs"`
}

type metadataSpec struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// signatureFromMetadata decodes a model metadata response.
func signatureFromMetadata(body []byte) (*inference.Signature, error) {
	var md metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("model metadata: %v", err)
	}
	if len(md.Inputs) == 0 {
		return nil, fmt.Errorf("model metadata lists no inputs")
	}
	sig := &inference.Signature{}
	for _, part := range []struct {
		name string
		src  []metadataSpec
		dst  *[]inference.TensorSpec
	}{{"inputs", md.Inputs, &sig.Inputs}, {"outputs", md.Outputs, &sig.Outputs}} {
		for i, s := range part.src {
			dt, err := inference.ParseDatatype(s.Datatype)
			if err != nil {
				return nil, fmt.Errorf("model metadata: %s[%d].datatype: %v", part.name, i, err)
			}
			*part.dst = append(*part.dst, inference.TensorSpec{Name: s.Name, Datatype: dt, Shape: s.Shape})
		}
	}
	if err := sig.Validate(); err != nil {
		return nil, fmt.Errorf("model metadata: %v", err)
	}
	return sig, nil
}
