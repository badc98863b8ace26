package xgboost

import (
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/inference"
)

// Limits on declared sizes, so that a corrupt header cannot make Load
// allocate without bound. Real models stay far below them: a dense input
// row of maxFeatures float32s is already 4 MB.
const (
	maxFeatures = 1 << 20
	maxOutputs  = 1 << 16
)

// build validates a decoded model and compiles it into a Booster.
func build(m *rawModel, opts inference.LoadOptions) (*Booster, error) {
	nFeature, err := param("learner.learner_model_param.num_feature", m.params.numFeature, 1, maxFeatures, -1)
	if err != nil {
		return nil, err
	}
	nClass, err := param("learner.learner_model_param.num_class", m.params.numClass, 0, maxOutputs, 0)
	if err != nil {
		return nil, err
	}
	nTarget, err := param("learner.learner_model_param.num_target", m.params.numTarget, 1, maxOutputs, 1)
	if err != nil {
		return nil, err
	}
	obj, err := lookupObjective(m.objective)
	if err != nil {
		return nil, within("learner.objective.name", errorf("%v", err))
	}
	if nClass > 0 && nTarget > 1 {
		return nil, errorf("learner.learner_model_param: num_class %d with num_target %d: multi-class multi-target models are not supported", nClass, nTarget)
	}
	nOut := max(nClass, nTarget, 1)
	if obj.multi && nClass < 2 {
		return nil, errorf("learner.learner_model_param.num_class is %d, want at least 2 for %s", nClass, obj.name)
	}
	base, err := baseMargins(m.params.baseScore, nOut, obj)
	if err != nil {
		return nil, within("learner.learner_model_param.base_score", err)
	}

	b := &Booster{nFeature: nFeature, nOut: nOut, base: base, obj: obj, threads: opts.Threads}
	switch m.booster.name {
	case "gbtree", "dart":
		b.forest, err = compileForest(&m.booster, nFeature, nOut)
		if err != nil {
			return nil, within("learner.gradient_booster", err)
		}
		b.means = sync.OnceValue(b.forest.meanValues)
	case "gblinear":
		want := (nFeature + 1) * nOut
		if len(m.booster.weights) != want {
			return nil, errorf("learner.gradient_booster.model.weights has %d entries, want (num_feature+1)*%d = %d", len(m.booster.weights), nOut, want)
		}
		b.linear = m.booster.weights
	default:
		return nil, errorf("learner.gradient_booster.name is %q, want gbtree, dart or gblinear", m.booster.name)
	}
	if err := b.setSignature(m); err != nil {
		return nil, err
	}
	return b, nil
}

// param parses an integer model parameter in [lo, hi]; an absent one
// takes def, or is an error when def is negative.
func param(path, s string, lo, hi, def int) (int, error) {
	if s == "" {
		if def < 0 {
			return 0, errorf("%s: missing", path)
		}
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, errorf("%s: %q is not an integer in [%d, %d]", path, s, lo, hi)
	}
	return v, nil
}

// baseMargins parses base_score, "5E-1" or, from XGBoost 3.1, "[5E-1,...]"
// with one value or one per output, and converts it to margin space.
func baseMargins(s string, nOut int, obj objective) ([]float32, error) {
	if s == "" {
		s = "0.5" // XGBoost's default
	}
	fields := []string{s}
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return nil, errorf("%q: unterminated list", s)
		}
		fields = strings.Split(s[1:len(s)-1], ",")
	}
	if len(fields) != 1 && len(fields) != nOut {
		return nil, errorf("%q has %d values, want 1 or %d", s, len(fields), nOut)
	}
	out := make([]float32, nOut)
	for j := range out {
		f := strings.TrimSpace(fields[min(j, len(fields)-1)])
		v, err := strconv.ParseFloat(f, 32)
		if err != nil {
			return nil, errorf("%q is not a number", f)
		}
		if out[j], err = obj.margin(float32(v)); err != nil {
			return nil, errorf("%v", err)
		}
	}
	return out, nil
}

// compileForest checks the trees of a gbtree or dart booster and compiles
// them.
func compileForest(rb *rawBooster, nFeature, nOut int) (*forest, error) {
	trees := rb.trees
	if rb.numTrees != "" {
		if n, err := strconv.Atoi(rb.numTrees); err != nil || n != len(trees) {
			return nil, errorf("model.gbtree_model_param.num_trees is %q but there are %d trees", rb.numTrees, len(trees))
		}
	}
	if !rb.hasTreeInfo {
		return nil, errorf("model: missing \"tree_info\"")
	}
	if len(rb.treeInfo) != len(trees) {
		return nil, errorf("model.tree_info has %d entries for %d trees", len(rb.treeInfo), len(trees))
	}
	// XGBoost places each tree by its "id"; they must be 0..n-1.
	order := make([]int, len(trees))
	placed := make([]bool, len(trees))
	for i := range trees {
		pos := i
		if trees[i].hasID {
			if trees[i].id < 0 || trees[i].id >= int64(len(trees)) || placed[trees[i].id] {
				return nil, errorf("model.trees[%d].id is %d: ids must be 0..%d, each once", i, trees[i].id, len(trees)-1)
			}
			pos = int(trees[i].id)
		} else if placed[pos] {
			return nil, errorf("model.trees[%d] has no id and its position is taken", i)
		}
		placed[pos] = true
		order[pos] = i
	}
	f := &forest{groups: make([]int32, len(trees))}
	for pos, i := range order {
		g := rb.treeInfo[pos]
		if g < 0 || g >= int64(nOut) {
			return nil, errorf("model.tree_info[%d] is %d, want a group in [0, %d)", pos, g, nOut)
		}
		f.groups[pos] = int32(g)
		if err := f.compileTree(&trees[i], nFeature); err != nil {
			return nil, errorf("tree %d: %v", pos, err)
		}
	}
	if rb.name == "dart" {
		if len(rb.weightDrop) != len(trees) {
			return nil, errorf("weight_drop has %d entries for %d trees", len(rb.weightDrop), len(trees))
		}
		f.weights = rb.weightDrop
	}
	return f, nil
}

// setSignature builds the model's signature from its feature names and
// types.
func (b *Booster) setSignature(m *rawModel) error {
	features, err := modelFeatures(m, b.nFeature)
	if err != nil {
		return err
	}
	in := inference.TensorSpec{
		Name:         "input",
		Datatype:     inference.FP32,
		Shape:        []int64{-1, int64(b.nFeature)},
		Features:     features,
		AllowMissing: true,
	}
	out := inference.TensorSpec{Name: "predict", Datatype: inference.FP32, Shape: []int64{-1}}
	b.outCols = 1
	switch {
	case b.obj.out == outSoftprob:
		out.Name = "probabilities"
		out.Shape = []int64{-1, int64(b.nOut)}
		out.Labels = make([]string, b.nOut)
		for j := range out.Labels {
			out.Labels[j] = strconv.Itoa(j)
		}
		b.outCols = b.nOut
	case b.obj.out == outSoftmax:
	case b.nOut > 1:
		out.Shape = []int64{-1, int64(b.nOut)}
		b.outCols = b.nOut
	}
	b.outMatrix = len(out.Shape) == 2
	if err := b.useSignature(in, out); err != nil {
		return errorf("learner.feature_names: %v", err)
	}
	return nil
}

// useSignature validates and installs the signature with input in and
// output out.
func (b *Booster) useSignature(in, out inference.TensorSpec) error {
	sig := inference.Signature{Inputs: []inference.TensorSpec{in}, Outputs: []inference.TensorSpec{out}}
	if err := sig.Validate(); err != nil {
		return err
	}
	b.sig, b.inName, b.outName = sig, in.Name, out.Name
	return nil
}

// override completes or replaces the model's signature with the caller's.
// Its errors concern the caller's signature, not the artifact.
func (b *Booster) override(sig *inference.Signature) error {
	in, out := b.sig.Inputs[0], b.sig.Outputs[0]
	if err := inference.ApplyTabularOverride(&in, &out, sig); err != nil {
		return err
	}
	return b.useSignature(in, out)
}

// modelFeatures returns the features named in the model, or f0..fN-1.
func modelFeatures(m *rawModel, n int) ([]inference.Feature, error) {
	if len(m.featureNames) != 0 && len(m.featureNames) != n {
		return nil, errorf("learner.feature_names has %d names, want num_feature = %d", len(m.featureNames), n)
	}
	if len(m.featureTypes) != 0 && len(m.featureTypes) != n {
		return nil, errorf("learner.feature_types has %d types, want num_feature = %d", len(m.featureTypes), n)
	}
	fs := make([]inference.Feature, n)
	for j := range fs {
		fs[j].Name = "f" + strconv.Itoa(j)
		if len(m.featureNames) != 0 {
			fs[j].Name = m.featureNames[j]
		}
		if len(m.featureTypes) != 0 {
			switch t := m.featureTypes[j]; t {
			case "q", "float":
				fs[j].Type = "float"
			case "int":
				fs[j].Type = "int"
			case "i":
				fs[j].Type = "bool"
			case "c":
				fs[j].Type = "categorical"
			default:
				return nil, errorf("learner.feature_types[%d]: unknown type %q (want q, float, int, i or c)", j, t)
			}
		}
	}
	return fs, nil
}
