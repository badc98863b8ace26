package xgboost

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// badArtifact is a corrupt or unsupported model and the message Load must
// give for it.
type badArtifact struct {
	name string
	data []byte
	want string
}

// edit returns tinyModel with old replaced by new, failing if old is absent.
func edit(t testing.TB, pairs ...string) []byte {
	t.Helper()
	s := strings.ReplaceAll(tinyModel, "\n", "")
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("tinyModel has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

func badArtifacts(t testing.TB) []badArtifact {
	t.Helper()
	bc, err := os.ReadFile(examplesDir + "/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	ubj, err := os.ReadFile("testdata/categorical_ubj.ubj")
	if err != nil {
		t.Fatal(err)
	}
	const tree = `"left_children":[1,-1,-1],"right_children":[2,-1,-1]`
	return []badArtifact{
		// Syntax.
		{"empty", nil, "unexpected end of input"},
		{"truncated", bc[:len(bc)/2], "learner.gradient_booster.model.trees["},
		{"truncated-end", bc[:len(bc)-1], "unexpected end of input at offset"},
		{"truncated-ubjson", ubj[:len(ubj)/3], "learner.gradient_booster.model.trees["},
		{"trailing-data", append(edit(t), "{}"...), "unexpected data after the document"},
		{"not-an-object", []byte(`[1, 2, 3]`), "want an object, got an array"},
		{"no-learner", []byte(`{"version": [1, 7, 4]}`), `no "learner" object`},
		{"deep-nesting", []byte(`{"learner":{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`), "nested more than 64 levels"},
		{"bad-number", edit(t, `"split_conditions":[5E-1,`, `"split_conditions":[5E-1E3,`), "bad number"},
		{"huge-number", edit(t, `"split_conditions":[5E-1,`, `"split_conditions":[5E+99,`), "does not fit in float32"},
		{"ubjson-huge-count", []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{i\x01x[$d#l\x7f\xff\xff\xff}}"), "learner.x: length 2147483647 out of range"},
		{"ubjson-long-count", []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{i\x01x[$d#i\x64" + strings.Repeat("\x00", 200) + "}}"), "learner.x: count 100 exceeds the remaining input"},
		{"ubjson-huge-string", []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{i\x01xSL\x7f\xff\xff\xff\xff\xff\xff\xff}}"), "out of range"},
		{"ubjson-bad-marker", []byte("{i\x07learner{i\x01x?}}"), "unknown marker '?'"},
		// Wrong types.
		{"children-string", edit(t, `"left_children":[1,-1,-1]`, `"left_children":"1,-1,-1"`), "left_children: want an array, got a string"},
		{"child-float", edit(t, `"left_children":[1,-1,-1]`, `"left_children":[1.5,-1,-1]`), "left_children[0]: want an integer, got 1.5"},
		{"num-feature-number", edit(t, `"num_feature":"2","num_target"`, `"num_feature":2,"num_target"`), "learner_model_param.num_feature: want a string, got a number"},
		{"trees-object", edit(t, `"trees":[{`, `"trees":{"x":{`, `}}]},"name"`, `}}}},"name"`), "trees: want an array, got an object"},
		{"default-left-2", edit(t, `"default_left":[1,0,0]`, `"default_left":[2,0,0]`), "default_left[0]: want 0 or 1"},
		// Tree structure.
		{"child-out-of-range", edit(t, tree, `"left_children":[99,-1,-1],"right_children":[2,-1,-1]`), "tree 0: node 0: left child 99 out of range"},
		{"negative-child", edit(t, tree, `"left_children":[-5,-1,-1],"right_children":[2,-1,-1]`), "node 0: left child -5 out of range"},
		{"half-leaf", edit(t, tree, `"left_children":[-1,-1,-1],"right_children":[2,-1,-1]`), "left child is -1 (leaf) but the other child is 2"},
		{"cycle", edit(t, tree, `"left_children":[1,0,-1],"right_children":[2,2,-1]`), "reached twice"},
		{"self-loop", edit(t, tree, `"left_children":[0,-1,-1],"right_children":[2,-1,-1]`), "left child 0 is reached twice"},
		{"shared-child", edit(t, tree, `"left_children":[1,-1,-1],"right_children":[1,-1,-1]`), "right child 1 is reached twice"},
		{"feature-out-of-range", edit(t, `"split_indices":[1,0,0]`, `"split_indices":[7,0,0]`), "node 0: split feature 7 out of range (num_feature is 2)"},
		{"num-nodes-mismatch", edit(t, `"num_nodes":"3"`, `"num_nodes":"5"`), "left_children has 3 entries, want num_nodes = 5"},
		{"num-nodes-bad", edit(t, `"num_nodes":"3"`, `"num_nodes":"-3"`), "num_nodes is \"-3\""},
		{"short-conditions", edit(t, `"split_conditions":[5E-1,-1E0,1E0]`, `"split_conditions":[5E-1,-1E0]`), "split_conditions has 2 entries"},
		{"vector-leaf", edit(t, `"num_nodes":"3","size_leaf_vector":"0"`, `"num_nodes":"3","size_leaf_vector":"3"`), "vector-leaf trees"},
		// Missing fields.
		{"no-tree-info", edit(t, `"tree_info":[0],`, ``), `missing "tree_info"`},
		{"no-default-left", edit(t, `"default_left":[1,0,0],`, ``), `missing "default_left"`},
		{"no-tree-param", edit(t, `"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}`, `"x":0`), "tree_param.num_nodes"},
		{"no-model-param", edit(t, `"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},`, ``), `missing "learner_model_param"`},
		{"no-num-feature", edit(t, `"num_feature":"2","num_target"`, `"num_target"`), `missing "num_feature"`},
		{"no-objective", edit(t, `"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}`, `"x":{}`), `missing "objective"`},
		{"no-booster-name", edit(t, `},"name":"gbtree"}`, `}}`), `gradient_booster: missing "name"`},
		// Inconsistent model parameters.
		{"num-feature-mismatch", edit(t, `"feature_names":["a","b"]`, `"feature_names":["a","b","c"]`), "feature_names has 3 names, want num_feature = 2"},
		{"num-feature-zero", edit(t, `"num_feature":"2","num_target"`, `"num_feature":"0","num_target"`), "num_feature: \"0\" is not an integer in [1,"},
		{"num-feature-huge", edit(t, `"num_feature":"2","num_target"`, `"num_feature":"9999999999","num_target"`), "is not an integer"},
		{"feature-type", edit(t, `"feature_types":[]`, `"feature_types":["q","x"]`), `feature_types[1]: unknown type "x"`},
		{"unknown-objective", edit(t, `"name":"binary:logistic"`, `"name":"reg:mystery"`), `objective "reg:mystery" is not supported`},
		{"unknown-booster", edit(t, `"name":"gbtree"}`, `"name":"gbforest"}`), `gradient_booster.name is "gbforest"`},
		{"num-trees-mismatch", edit(t, `"num_trees":"1"`, `"num_trees":"2"`), "num_trees is \"2\" but there are 1 trees"},
		{"tree-info-group", edit(t, `"tree_info":[0]`, `"tree_info":[1]`), "tree_info[0] is 1, want a group in [0, 1)"},
		{"tree-info-length", edit(t, `"tree_info":[0]`, `"tree_info":[0,0]`), "tree_info has 2 entries for 1 trees"},
		{"tree-id", edit(t, `"id":0`, `"id":4`), "trees[0].id is 4"},
		{"base-score-range", edit(t, `"base_score":"5E-1"`, `"base_score":"1.5E0"`), "base_score 1.5 must be in [0, 1] for binary:logistic"},
		{"base-score-text", edit(t, `"base_score":"5E-1"`, `"base_score":"half"`), `"half" is not a number`},
		{"base-score-list", edit(t, `"base_score":"5E-1"`, `"base_score":"[5E-1,5E-1]"`), "has 2 values, want 1"},
		{"softprob-one-class", edit(t, `"name":"binary:logistic"`, `"name":"multi:softprob"`), "num_class is 0, want at least 2"},
		{"dart-weights", edit(t, `},"name":"gbtree"}`, `},"name":"dart","weight_drop":[1,1]}`), "weight_drop has 2 entries for 1 trees"},
		{"gblinear-weights", []byte(strings.Replace(strings.Replace(tinyModel, `"name":"gbtree"`, `"name":"gblinear"`, 1), `"tree_info":[0],`, `"weights":[1,2],`, 1)), "weights has 2 entries, want (num_feature+1)*1 = 3"},
		// Categorical splits.
		{"cat-segment", edit(t, `"split_type":[0,0,0],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[]`,
			`"split_type":[1,0,0],"categories":[1,2],"categories_nodes":[0],"categories_segments":[1],"categories_sizes":[5]`), "segment [1, 1+5) out of range"},
		{"cat-negative", edit(t, `"split_type":[0,0,0],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[]`,
			`"split_type":[1,0,0],"categories":[-3],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[1]`), "category -3 out of range"},
		{"cat-numeric-node", edit(t, `"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[]`,
			`"categories":[1],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[1]`), "node 0 has a numerical split_type"},
		{"cat-without-set", edit(t, `"split_type":[0,0,0]`, `"split_type":[1,0,0]`), "node 0: categorical split without categories"},
		{"cat-lengths", edit(t, `"categories_sizes":[]`, `"categories_sizes":[1]`), "have 0, 0 and 1 entries"},
		{"split-type", edit(t, `"split_type":[0,0,0]`, `"split_type":[2,0,0]`), "split_type 2"},
	}
}

func TestBadArtifacts(t *testing.T) {
	for _, tc := range badArtifacts(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Format{}.Load(context.Background(), tc.data, inference.LoadOptions{})
			if err == nil {
				t.Fatalf("Load succeeded (%v), want an error containing %q", m.Signature(), tc.want)
			}
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Errorf("Load error %q does not wrap inference.ErrInvalidModel", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestErrorPath checks that decode errors name the field path.
func TestErrorPath(t *testing.T) {
	_, err := Format{}.Load(context.Background(), edit(t, `"left_children":[1,-1,-1]`, `"left_children":[1,"x",-1]`), inference.LoadOptions{})
	const want = "xgboost: invalid model: learner.gradient_booster.model.trees[0].left_children[1]: want a number, got a string"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %q", err, want)
	}
}
