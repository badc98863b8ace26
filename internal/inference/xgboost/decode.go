package xgboost

// rawModel is the part of an XGBoost model document the runtime needs,
// as written, before any validation. decodeModel fills it from either
// encoding; build (build.go) checks it and compiles the runtime model.
//
// The layout is XGBoost's JSON model schema (doc/model.schema in the
// XGBoost repository), stable from 1.0 to 3.x apart from the differences
// noted on the fields.
type rawModel struct {
	version      []int64
	featureNames []string
	// featureTypes are "q"/"float" (numeric), "int", "i" (indicator) or
	// "c" (categorical).
	featureTypes []string
	params       rawParams
	objective    string
	booster      rawBooster
}

// rawParams is learner.learner_model_param. XGBoost stores every value as
// a string; base_score is "5E-1" in 1.x and 2.x and may be a list such as
// "[5E-1,2E-1]" from 3.1 on.
type rawParams struct {
	baseScore  string
	numClass   string
	numFeature string
	numTarget  string
}

// rawBooster is learner.gradient_booster.
type rawBooster struct {
	name string // gbtree, dart or gblinear
	// gbtree and dart
	trees       []rawTree
	treeInfo    []int64
	numTrees    string // gbtree_model_param.num_trees
	hasTreeInfo bool
	// dart
	weightDrop []float32
	// gblinear
	weights []float32
}

// rawTree is one element of gradient_booster.model.trees.
type rawTree struct {
	id              int64
	hasID           bool
	left, right     []int64
	splitIndices    []int64
	splitConditions []float32
	defaultLeft     []bool
	// sumHessian is each node's cover (sum of the training rows' hessians
	// under it), which TreeSHAP weighs branches by; optional.
	sumHessian []float32
	// splitType is 0 for a numeric split and 1 for a categorical one;
	// absent before XGBoost 1.5.
	splitType []int64
	// categories lists, for the categorical split at catNodes[k], the
	// categories that go right: categories[catSegments[k]:][:catSizes[k]].
	categories  []int64
	catNodes    []int64
	catSegments []int64
	catSizes    []int64
	// From tree_param.
	numNodes       string
	sizeLeafVector string
	// seen records which keys were present, to report missing ones.
	seen map[string]bool
}

// decodeModel reads a model document from s.
func decodeModel(s source) (*rawModel, error) {
	m := &rawModel{}
	sawLearner := false
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "learner":
			sawLearner = true
			err = decodeLearner(s, m)
		case "version":
			m.version, err = readInts(s)
		default:
			err = s.skip()
		}
		return within(key, err)
	})
	if err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	if !sawLearner {
		return nil, errorf("no \"learner\" object: not an XGBoost model")
	}
	return m, nil
}

func decodeLearner(s source, m *rawModel) error {
	seen := map[string]bool{}
	err := s.object(func(key string) error {
		seen[key] = true
		var err error
		switch key {
		case "feature_names":
			m.featureNames, err = readStrings(s)
		case "feature_types":
			m.featureTypes, err = readStrings(s)
		case "learner_model_param":
			err = decodeParams(s, &m.params)
		case "objective":
			err = s.object(func(key string) error {
				if key == "name" {
					var err error
					m.objective, err = s.str()
					return within(key, err)
				}
				return s.skip()
			})
		case "gradient_booster":
			err = decodeBooster(s, &m.booster)
		default:
			err = s.skip()
		}
		return within(key, err)
	})
	if err != nil {
		return err
	}
	for _, key := range []string{"learner_model_param", "objective", "gradient_booster"} {
		if !seen[key] {
			return errorf("missing %q", key)
		}
	}
	if m.objective == "" {
		return within("objective", errorf("missing \"name\""))
	}
	return nil
}

func decodeParams(s source, p *rawParams) error {
	err := s.object(func(key string) error {
		var dst *string
		switch key {
		case "base_score":
			dst = &p.baseScore
		case "num_class":
			dst = &p.numClass
		case "num_feature":
			dst = &p.numFeature
		case "num_target":
			dst = &p.numTarget
		default:
			return s.skip()
		}
		var err error
		*dst, err = s.str()
		return within(key, err)
	})
	if err != nil {
		return err
	}
	if p.numFeature == "" {
		return errorf("missing \"num_feature\"")
	}
	return nil
}

func decodeBooster(s source, b *rawBooster) error {
	sawModel := false
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "name":
			b.name, err = s.str()
		case "model":
			// gbtree and gblinear keep their model here.
			sawModel = true
			err = decodeBoosterModel(s, b)
		case "gbtree":
			// dart nests a whole gbtree: {"name":"gbtree","model":{...}}.
			sawModel = true
			err = s.object(func(key string) error {
				if key == "model" {
					return within(key, decodeBoosterModel(s, b))
				}
				return s.skip()
			})
		case "weight_drop":
			b.weightDrop, err = readFloat32s(s)
		default:
			err = s.skip()
		}
		return within(key, err)
	})
	if err != nil {
		return err
	}
	if b.name == "" {
		return errorf("missing \"name\"")
	}
	if !sawModel {
		return errorf("missing \"model\"")
	}
	return nil
}

// decodeBoosterModel reads the "model" object of gbtree or gblinear; the
// booster name may come after it, so both layouts are accepted here.
func decodeBoosterModel(s source, b *rawBooster) error {
	return s.object(func(key string) error {
		var err error
		switch key {
		case "trees":
			err = s.array(func(i int) error {
				var t rawTree
				if err := decodeTree(s, &t); err != nil {
					return within(index(i), err)
				}
				b.trees = append(b.trees, t)
				return nil
			})
		case "tree_info":
			b.hasTreeInfo = true
			b.treeInfo, err = readInts(s)
		case "gbtree_model_param":
			err = s.object(func(key string) error {
				if key == "num_trees" {
					var err error
					b.numTrees, err = s.str()
					return within(key, err)
				}
				return s.skip()
			})
		case "weights":
			b.weights, err = readFloat32s(s)
		default:
			err = s.skip()
		}
		return within(key, err)
	})
}

// treeArrays are the per-node arrays every tree must have.
var treeArrays = []string{"left_children", "right_children", "split_indices", "split_conditions", "default_left"}

func decodeTree(s source, t *rawTree) error {
	t.seen = map[string]bool{}
	err := s.object(func(key string) error {
		t.seen[key] = true
		var err error
		switch key {
		case "id":
			t.hasID = true
			t.id, err = s.i64()
		case "left_children":
			t.left, err = readInts(s)
		case "right_children":
			t.right, err = readInts(s)
		case "split_indices":
			t.splitIndices, err = readInts(s)
		case "split_conditions":
			t.splitConditions, err = readFloat32s(s)
		case "default_left":
			t.defaultLeft, err = readFlags(s)
		case "sum_hessian":
			t.sumHessian, err = readFloat32s(s)
		case "split_type":
			t.splitType, err = readInts(s)
		case "categories":
			t.categories, err = readInts(s)
		case "categories_nodes":
			t.catNodes, err = readInts(s)
		case "categories_segments":
			t.catSegments, err = readInts(s)
		case "categories_sizes":
			t.catSizes, err = readInts(s)
		case "tree_param":
			err = s.object(func(key string) error {
				var dst *string
				switch key {
				case "num_nodes":
					dst = &t.numNodes
				case "size_leaf_vector":
					dst = &t.sizeLeafVector
				default:
					return s.skip()
				}
				var err error
				*dst, err = s.str()
				return within(key, err)
			})
		default:
			err = s.skip()
		}
		return within(key, err)
	})
	if err != nil {
		return err
	}
	for _, key := range treeArrays {
		if !t.seen[key] {
			return errorf("missing %q", key)
		}
	}
	if !t.seen["tree_param"] || t.numNodes == "" {
		return errorf("missing \"tree_param.num_nodes\"")
	}
	return nil
}
