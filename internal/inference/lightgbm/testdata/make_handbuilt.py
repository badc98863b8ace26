#!/usr/bin/env python3
# Writes the hand-built v4_*.txt models, with tree_sizes computed as LightGBM
# does. Usage: python3 make_handbuilt.py . (from testdata). The expected
# outputs, worked out by hand, are in ../handbuilt_test.go.
import sys
def model(path, header, trees, params):
    blocks = []
    for i, t in enumerate(trees):
        blocks.append("Tree=%d\n" % i + "\n".join(t) + "\n\n\n")
    h = "\n".join(header) + "\ntree_sizes=" + " ".join(str(len(b)) for b in blocks) + "\n\n"
    tail = "end of trees\n\nfeature_importances:\n\nparameters:\n" + "\n".join(params) + "\n\nend of parameters\n\npandas_categorical:null\n"
    open(path, "w").write(h + "".join(blocks) + tail)

def hdr(obj, names, infos, extra=(), ncls=1):
    return ["tree", "version=v4", "num_class=%d" % ncls, "num_tree_per_iteration=%d" % ncls, "label_index=0",
            "max_feature_idx=%d" % (len(names)-1), "objective=" + obj] + list(extra) + [
            "feature_names=" + " ".join(names), "feature_infos=" + " ".join(infos)]

def leaf1(v, linear=None):
    t = ["num_leaves=1", "num_cat=0", "split_feature=", "split_gain=", "threshold=", "decision_type=",
         "left_child=", "right_child=", "leaf_value=%s" % v, "leaf_weight=20", "leaf_count=20",
         "internal_value=", "internal_weight=", "internal_count="]
    if linear:
        t += ["is_linear=1"] + linear
    else:
        t += ["is_linear=0"]
    return t + ["shrinkage=1"]

def stump(f, th, dt, lv, rv):
    return ["num_leaves=2", "num_cat=0", "split_feature=%d" % f, "split_gain=1", "threshold=%s" % th,
            "decision_type=%d" % dt, "left_child=-1", "right_child=-2", "leaf_value=%s %s" % (lv, rv),
            "leaf_weight=10 10", "leaf_count=10 10", "internal_value=0", "internal_weight=20", "internal_count=20",
            "is_linear=0", "shrinkage=1"]

d = sys.argv[1]
model(d + "/v4_linear.txt", hdr("regression", ["a", "b", "c"], ["[0:10]"] * 3), [
    ["num_leaves=2", "num_cat=0", "split_feature=0", "split_gain=1", "threshold=5", "decision_type=2",
     "left_child=-1", "right_child=-2", "leaf_value=1 2", "leaf_weight=10 10", "leaf_count=10 10",
     "internal_value=0", "internal_weight=20", "internal_count=20", "is_linear=1",
     "leaf_const=0.5 -1", "num_features=2 1", "leaf_features=1 2  0  ", "leaf_coeff=0.25 -0.5  2  ",
     "shrinkage=1"],
    leaf1("0.125", ["leaf_const=0.0625", "num_features=1", "leaf_features=2  ", "leaf_coeff=0.5  "]),
], ["[boosting: gbdt]", "[objective: regression]", "[linear_tree: 1]"])

model(d + "/v4_categorical.txt", hdr("regression", ["cat", "x"], ["0:1:3:33:32:2", "[-5:5]"]), [
    ["num_leaves=3", "num_cat=1", "split_feature=0 1", "split_gain=1 1", "threshold=0 -1",
     "decision_type=9 6", "left_child=-1 -2", "right_child=1 -3", "leaf_value=10 20 30",
     "leaf_weight=10 10 10", "leaf_count=10 10 10", "internal_value=0 0", "internal_weight=30 20",
     "internal_count=30 20", "cat_boundaries=0 2", "cat_threshold=11 2", "is_linear=0", "shrinkage=1"],
], ["[boosting: gbdt]", "[objective: regression]"])

model(d + "/v4_missing.txt", hdr("regression", ["x0", "x1", "x2"], ["[-1:1]"] * 3), [
    stump(0, "0.5", 0, 1, 2),
    stump(1, "0.5", 8, 10, 20),
    stump(2, "-0.5", 10, 100, 200),
    stump(0, "0.5", 4, 1000, 2000),
], ["[boosting: gbdt]", "[objective: regression]"])

model(d + "/v4_rf_binary.txt", hdr("binary sigmoid:0.5", ["x"], ["[-1:1]"], ["average_output"]), [
    stump(0, "0", 2, -1, 3),
    leaf1("1"),
], ["[boosting: rf]", "[objective: binary]", "[sigmoid: 0.5]"])

model(d + "/v4_multiclassova.txt", hdr("multiclassova num_class:2 sigmoid:2", ["x"], ["[-1:1]"], ncls=2), [
    leaf1("0.5"),
    leaf1("-0.25"),
], ["[boosting: gbdt]", "[objective: multiclassova]", "[num_class: 2]", "[sigmoid: 2]"])
