package lightgbm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// small is a valid two-tree model the bad-artifact cases edit.
const small = `tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=a b
feature_infos=[0:1] 0:1:2
tree_sizes=1 1

Tree=0
num_leaves=3
num_cat=1
split_feature=1 0
threshold=0 0.5
decision_type=1 2
left_child=-1 -2
right_child=1 -3
leaf_value=0.1 0.2 0.3
cat_boundaries=0 1
cat_threshold=5
is_linear=0
shrinkage=1


Tree=1
num_leaves=1
num_cat=0
leaf_value=0.5
is_linear=0
shrinkage=1


end of trees
`

// edit returns small with old replaced by new, failing if old is absent.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(small, old) {
		t.Fatalf("%q is not in the base model", old)
	}
	return strings.Replace(small, old, new, 1)
}

func TestSmallIsValid(t *testing.T) {
	if _, err := (Format{}).Load(context.Background(), []byte(small), inference.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if !(Format{}).Detect([]byte(small)) {
		t.Error("Detect(small) = false")
	}
}

// TestBadArtifacts checks that corrupt, truncated and unsupported models
// fail to load with an error wrapping ErrInvalidModel that says where.
func TestBadArtifacts(t *testing.T) {
	cases := []struct {
		name, model, want string
	}{
		{"empty", "", `line 1: got "", want "tree"`},
		{"xgboost json", `{"learner":{}}`, `not a LightGBM text model`},
		{"header only", "tree\n", "header: missing version= line"},
		{"version v5", edit(t, "version=v4", "version=v5"), "line 2: version=v5: unsupported model format version"},
		{"version v1", edit(t, "version=v4", "version=v1"), "version=v1: unsupported"},
		{"no feature_infos", edit(t, "feature_infos=[0:1] 0:1:2\n", ""), "header: missing feature_infos= line"},
		{"duplicate header key", edit(t, "label_index=0\n", "label_index=0\nlabel_index=1\n"), "line 6: label_index appears twice in the header (first on line 5)"},
		{"num_class 0", edit(t, "num_class=1", "num_class=0"), "num_class=0: want an integer >= 1"},
		{"num_tree_per_iteration x", edit(t, "num_tree_per_iteration=1", "num_tree_per_iteration=x"), "num_tree_per_iteration=x: want an integer >= 1"},
		{"max_feature_idx negative", edit(t, "max_feature_idx=1", "max_feature_idx=-1"), "max_feature_idx=-1: want an integer >= 0"},
		{"too few names", edit(t, "feature_names=a b", "feature_names=a"), "feature_names has 1 names, want max_feature_idx+1 = 2"},
		{"duplicate names", edit(t, "feature_names=a b", "feature_names=a a"), `feature_names: "a" appears twice`},
		{"too many infos", edit(t, "feature_infos=[0:1] 0:1:2", "feature_infos=[0:1] 0:1:2 none"), "feature_infos has 3 entries, want max_feature_idx+1 = 2"},
		{"unknown objective", edit(t, "objective=binary sigmoid:1", "objective=magic"), `objective=magic: unknown objective "magic"`},
		{"binary without sigmoid", edit(t, "objective=binary sigmoid:1", "objective=binary"), "binary: needs a positive sigmoid:<value> parameter"},
		{"negative sigmoid", edit(t, "objective=binary sigmoid:1", "objective=binary sigmoid:-2"), "needs a positive sigmoid"},
		{"multiclass without num_class", edit(t, "objective=binary sigmoid:1", "objective=multiclass"), "multiclass: needs a num_class:<K> parameter"},
		{"multiclass vs trees per iteration", edit(t, "objective=binary sigmoid:1", "objective=multiclass num_class:3"), "works on 3 score(s) per row but num_tree_per_iteration is 1"},
		{"no trees", strings.Replace(small[:strings.Index(small, "Tree=0")], "tree_sizes=1 1\n", "", 1) + "end of trees\n", "the model has no trees"},
		{"tree index", edit(t, "Tree=1\n", "Tree=7\n"), `line 27: "Tree=7": want Tree=1`},
		{"tree line not key=value", edit(t, "num_cat=1\n", "num_cat\n"), `Tree=0: line 14: "num_cat" is not key=value`},
		{"duplicate tree key", edit(t, "num_cat=1\n", "num_cat=1\nnum_cat=1\n"), "Tree=0: line 15: num_cat appears twice"},
		{"no num_leaves", edit(t, "num_leaves=3\n", ""), "Tree=0 (line 12): missing num_leaves= line"},
		{"num_leaves 0", edit(t, "num_leaves=1\n", "num_leaves=0\n"), "Tree=1 (line 27): num_leaves=0: must be >= 1"},
		{"num_leaves text", edit(t, "num_leaves=3", "num_leaves=three"), "num_leaves=three: not an integer"},
		{"num_cat too big", edit(t, "num_cat=1", "num_cat=5"), "num_cat=5: must be in [0, num_leaves-1 = 2]"},
		{"leaf_value short", edit(t, "leaf_value=0.1 0.2 0.3", "leaf_value=0.1 0.2"), "Tree=0 (line 12): leaf_value has 2 values, want 3"},
		{"leaf_value text", edit(t, "leaf_value=0.1 0.2 0.3", "leaf_value=0.1 x 0.3"), `leaf_value[1]="x": not a number`},
		{"left_child short", edit(t, "left_child=-1 -2", "left_child=-1"), "Tree=0 (line 12): left_child has 1 values, want 2"},
		{"no right_child", edit(t, "right_child=1 -3\n", ""), "missing right_child= line"},
		{"no threshold", edit(t, "threshold=0 0.5\n", ""), "missing threshold= line"},
		{"child node out of range", edit(t, "right_child=1 -3", "right_child=2 -3"), "right_child[0]=2: out of range (nodes 0..1, leaves -1..-3)"},
		{"child leaf out of range", edit(t, "right_child=1 -3", "right_child=1 -4"), "right_child[1]=-4: out of range"},
		{"self loop", edit(t, "right_child=1 -3", "right_child=1 1"), "node 1 is a child of both node 0 and node 1"},
		{"root as child", edit(t, "left_child=-1 -2", "left_child=-1 0"), "node 1 has the root (node 0) as a child"},
		{"leaf twice", edit(t, "right_child=1 -3", "right_child=1 -2"), "leaf 1 is a child of both node 1 and node 1"},
		{"cycle", edit(t, "left_child=-1 -2\nright_child=1 -3", "left_child=-1 -2\nright_child=-3 1"), "left_child/right_child: the root reaches 1 of 2 nodes and 2 of 3 leaves"},
		{"split_feature out of range", edit(t, "split_feature=1 0", "split_feature=1 2"), "split_feature[1]=2: out of range [0, 2)"},
		{"split_feature negative", edit(t, "split_feature=1 0", "split_feature=-1 0"), "split_feature[0]=-1: out of range"},
		{"missing type 3", edit(t, "decision_type=1 2", "decision_type=1 14"), "decision_type[1]=14: want 0..15"},
		{"decision_type 16", edit(t, "decision_type=1 2", "decision_type=1 16"), "decision_type[1]=16"},
		{"cat index out of range", edit(t, "threshold=0 0.5", "threshold=1 0.5"), "threshold[0]=1: a categorical split needs an integer index in [0, num_cat=1)"},
		{"cat index fraction", edit(t, "threshold=0 0.5", "threshold=0.5 0.5"), "threshold[0]=0.5: a categorical split needs an integer index"},
		{"no cat_boundaries", edit(t, "cat_boundaries=0 1\n", ""), "missing cat_boundaries= line"},
		{"cat_boundaries start", edit(t, "cat_boundaries=0 1", "cat_boundaries=1 1"), "cat_boundaries[0]=1: want 0"},
		{"cat_boundaries count", edit(t, "num_cat=1\n", "num_cat=2\n"), "cat_boundaries has 2 values, want 3"},
		{"cat_boundaries decreasing", strings.Replace(edit(t, "num_cat=1\n", "num_cat=2\n"), "cat_boundaries=0 1", "cat_boundaries=0 1 0", 1), "cat_boundaries[2]=0 is less than cat_boundaries[1]=1"},
		{"cat_threshold count", edit(t, "cat_threshold=5", "cat_threshold=5 6"), "cat_threshold has 2 values, want cat_boundaries[1] = 1"},
		{"cat_threshold not uint32", edit(t, "cat_threshold=5", "cat_threshold=4294967296"), `cat_threshold[0]="4294967296": not a uint32`},
		{"is_linear 2", edit(t, "is_linear=0\nshrinkage=1\n\n\nTree=1", "is_linear=2\nshrinkage=1\n\n\nTree=1"), "Tree=0 (line 12): is_linear=2: want 0 or 1"},
		{"linear without leaf_const", edit(t, "leaf_value=0.5\nis_linear=0", "leaf_value=0.5\nis_linear=1"), "Tree=1 (line 27): missing leaf_const= line"},
		{"linear feature count", edit(t, "leaf_value=0.5\nis_linear=0", "leaf_value=0.5\nis_linear=1\nleaf_const=1\nnum_features=2\nleaf_features=0\nleaf_coeff=1 2"), "leaf_features has 1 values, want 2"},
		{"linear feature out of range", edit(t, "leaf_value=0.5\nis_linear=0", "leaf_value=0.5\nis_linear=1\nleaf_const=1\nnum_features=1\nleaf_features=9\nleaf_coeff=1"), "leaf_features[0]=9: out of range [0, 2)"},
		{"linear num_features negative", edit(t, "leaf_value=0.5\nis_linear=0", "leaf_value=0.5\nis_linear=1\nleaf_const=1\nnum_features=-1"), "num_features[0]=-1: out of range"},
		{"truncated after a tree", small[:strings.Index(small, "Tree=1")], `no "end of trees" line after Tree=0: the model is truncated`},
		{"truncated in a tree", small[:strings.Index(small, "leaf_value=0.5")], `Tree=1 (line 27): missing leaf_value= line`},
		{"truncated in a number", small[:strings.Index(small, "0.2 0.3")+1], "leaf_value has 2 values, want 3"},
		{"tree_sizes count", edit(t, "tree_sizes=1 1", "tree_sizes=1 1 1"), "line 10: tree_sizes lists 3 trees but the file has 2"},
		{"trees per iteration", edit(t, "num_class=1\nnum_tree_per_iteration=1\n", "num_class=1\nnum_tree_per_iteration=3\n"), "works on 1 score(s) per row but num_tree_per_iteration is 3"},
		{"trees not a multiple", strings.Replace(edit(t, "num_class=1\nnum_tree_per_iteration=1\n", "num_class=3\nnum_tree_per_iteration=3\n"), "objective=binary sigmoid:1", "objective=multiclass num_class:3", 1), "2 trees is not a multiple of num_tree_per_iteration=3"},
		{"tree hidden after junk", strings.Replace(edit(t, "\nTree=1\n", "\nfeature importances:\nTree=1\n"), "version=v4", "version=v2", 1), `Tree=1 after a line that is not a tree`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Format{}.Load(context.Background(), []byte(c.model), inference.LoadOptions{})
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want an error containing %q", m.Signature(), c.want)
			}
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Errorf("Load error %q does not wrap ErrInvalidModel", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestBadOptions checks option errors, which are not ErrInvalidModel.
func TestBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts inference.LoadOptions
		want string
	}{
		{"unknown param", inference.LoadOptions{Params: map[string]string{"num_iteration": "3"}}, "params.num_iteration: unknown parameter"},
		{"bad raw_score", inference.LoadOptions{Params: map[string]string{"raw_score": "maybe"}}, `params.raw_score: "maybe" is not true or false`},
		{"negative threads", inference.LoadOptions{Threads: -1}, "threads is -1"},
		{"two inputs", inference.LoadOptions{Signature: &inference.Signature{Inputs: make([]inference.TensorSpec, 2)}}, "signature.inputs: has 2 inputs"},
		{"feature count", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Features: []inference.Feature{{Name: "a"}}}}}}, "has 1 features, the model has 2"},
		{"bytes input", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Datatype: inference.BYTES}}}}, "BYTES is not numeric"},
		{"labels for one output", inference.LoadOptions{Signature: &inference.Signature{Outputs: []inference.TensorSpec{{Labels: []string{"x", "y"}}}}}, "has 2 labels, the model outputs 1 values per row"},
		{"duplicate feature", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Features: []inference.Feature{{Name: "a"}, {Name: "a"}}}}}}, `"a" appears twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Format{}.Load(context.Background(), []byte(small), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, c.want)
			}
			if errors.Is(err, inference.ErrInvalidModel) {
				t.Errorf("option error %q wraps ErrInvalidModel", err)
			}
		})
	}
}

// TestTruncation cuts a real model at every line end (and mid-line) and
// checks that each prefix either fails to load or, when the cut falls after
// the trees, predicts exactly like the whole model.
func TestTruncation(t *testing.T) {
	full := readFile(t, "lg_dart_breast_cancer.v4.model")
	whole := loadReference(t, reference{model: "lg_dart_breast_cancer.v4.model"})
	rows := readRows(t, "breast_cancer_test.tsv", false, 30)[:5]
	want := predictRows(t, whole, rows)
	end := strings.Index(string(full), "end of trees\n") + len("end of trees")
	loaded := 0
	for cut := 0; cut < len(full); cut++ {
		if full[cut] != '\n' && cut%97 != 0 {
			continue
		}
		m, err := Format{}.Load(context.Background(), full[:cut], inference.LoadOptions{})
		if err != nil {
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Fatalf("cut at %d: error %v does not wrap ErrInvalidModel", cut, err)
			}
			continue
		}
		loaded++
		if cut < end {
			t.Fatalf("cut at byte %d (before the end of the trees at %d) loaded", cut, end)
		}
		got := predictRows(t, m, rows)
		for i := range want {
			if got[i][0] != want[i][0] {
				t.Fatalf("cut at %d: row %d = %v, want %v", cut, i, got[i][0], want[i][0])
			}
		}
	}
	if loaded == 0 {
		t.Error("no prefix loaded, not even those past the trees")
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{small, true},
		{strings.ReplaceAll(small, "\n", "\r\n"), true},
		{"tree\nversion=v2\n", true},
		{"tree\n", false},
		{"tree\nnum_class=1\n", false},
		{"trees\nversion=v3\n", false},
		{`{"learner": {}}`, false},
		{"", false},
	}
	for _, c := range cases {
		if got := (Format{}).Detect([]byte(c.in)); got != c.want {
			t.Errorf("Detect(%.20q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestCRLF checks that a model saved with Windows line ends loads and
// predicts like the original.
func TestCRLF(t *testing.T) {
	r := reference{model: "lg_rf_iris.model", params: map[string]string{"raw_score": "true"}, convert: func(_ testing.TB, b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), "\n", "\r\n"))
	}}
	m := loadReference(t, r)
	rows := readRows(t, "iris_test.libsvm", false, 4)
	want := readMatrix(t, "lg_rf_iris_true_predictions.txt", false)
	got := predictRows(t, m, rows)
	for i := range want {
		if got[i][0] != want[i][0] {
			t.Fatalf("row %d = %v, want %v", i, got[i][0], want[i][0])
		}
	}
}
