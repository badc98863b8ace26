package xgboost

import (
	"math"
	"slices"
	"strconv"
)

// node is one node of a compiled tree, 16 bytes. The two children of a
// split are adjacent in forest.nodes (right = left+1), so a split picks
// the next index without a branch, as in XGBoost's own predictor.
//
// A leaf is absorbing: its cond is NaN, so no value is below it, its left
// is its own index minus one and dflt its own index; a step from a leaf
// stays on it. That lets the batch kernel walk every row of a block the
// same fixed number of steps with no leaf test (see steps in forest).
type node struct {
	// cond is the split threshold; NaN for a leaf.
	cond float32
	// feat is the feature a split tests; 0 for a leaf.
	feat uint32
	// left is the index of the left child; the right child is left+1.
	left int32
	// dflt is the index of the child a missing (NaN) value goes to; a
	// leaf's own index, which marks it as a leaf (children come after
	// their parent).
	dflt int32
}

// isLeaf reports whether the node at index i is a leaf.
func (n *node) isLeaf(i int32) bool { return n.dflt == i }

// catSplit locates the categories of a categorical split in
// forest.catValues: values[beg:beg+n], sorted. n is 0 for a numeric split.
type catSplit struct {
	beg, n int32
}

// maxCategory is XGBoost's OutOfRangeCat: a category value at or above it
// (or negative) is invalid and goes left, like an unknown category.
const maxCategory = 1 << 24

// forest is a compiled tree ensemble: the nodes of every tree, laid out
// breadth first, in one flat slice. It is immutable after compile.
type forest struct {
	nodes []node
	// leaf holds the value of each leaf node, parallel to nodes.
	leaf   []float32
	roots  []int32 // root of tree t
	groups []int32 // output group (class or target) of tree t
	// depth is the depth of tree t's deepest leaf. steps is depth for a
	// tree the batch kernel walks in lock step (a fixed number of steps
	// per row, no leaf test) and -1 for one walked row by row to its leaf:
	// lock step wastes the steps of shallow leaves, so lopsided trees are
	// walked.
	depth, steps []int32
	// weights scales tree t's leaves (dart's weight_drop); nil for gbtree.
	weights []float32
	// cover is each node's sum_hessian, parallel to nodes, for TreeSHAP;
	// noCover is set when some tree came without sum_hessian (or with a
	// wrong count), and then explanations are refused.
	cover   []float32
	noCover bool
	// cats is parallel to nodes when any split is categorical, else nil.
	cats      []catSplit
	catValues []int32
}

// compileTree validates tree t against nFeature and appends it to f.
// Only nodes reachable from the root are kept (XGBoost leaves pruned
// nodes in the arrays, marked deleted); every reachable node is checked so
// that prediction can neither index out of range nor loop.
func (f *forest) compileTree(t *rawTree, nFeature int) error {
	n, err := strconv.Atoi(t.numNodes)
	if err != nil || n < 1 {
		return errorf("tree_param.num_nodes is %q, want a positive integer", t.numNodes)
	}
	for _, a := range []struct {
		name string
		len  int
	}{
		{"left_children", len(t.left)},
		{"right_children", len(t.right)},
		{"split_indices", len(t.splitIndices)},
		{"split_conditions", len(t.splitConditions)},
		{"default_left", len(t.defaultLeft)},
	} {
		if a.len != n {
			return errorf("%s has %d entries, want num_nodes = %d", a.name, a.len, n)
		}
	}
	switch t.sizeLeafVector {
	case "", "0", "1":
	default:
		return errorf("size_leaf_vector is %s: vector-leaf trees (multi_strategy=multi_output_tree) are not supported", t.sizeLeafVector)
	}
	if len(t.splitType) != 0 && len(t.splitType) != n {
		return errorf("split_type has %d entries, want num_nodes = %d", len(t.splitType), n)
	}
	cats, err := t.categorySets(n)
	if err != nil {
		return err
	}
	if len(f.nodes)+n > math.MaxInt32/2 {
		return errorf("the model has too many nodes")
	}
	if cats != nil && f.cats == nil {
		f.cats = make([]catSplit, len(f.nodes), cap(f.nodes))
	}
	hasCover := len(t.sumHessian) == n
	if !hasCover {
		f.noCover = true
	}
	coverOf := func(o int64) float32 {
		if hasCover {
			return t.sumHessian[o]
		}
		return 0
	}

	// Lay the reachable nodes out breadth first, siblings adjacent.
	// queue[k] is the original index of the node placed at base+k.
	base := int32(len(f.nodes))
	queue := []int64{0}
	depth := []int32{0} // parallel to queue
	seen := make([]bool, n)
	seen[0] = true
	f.nodes = append(f.nodes, node{})
	f.leaf = append(f.leaf, 0)
	f.cover = append(f.cover, coverOf(0))
	if f.cats != nil {
		f.cats = append(f.cats, catSplit{})
	}
	var maxDepth, leaves, depthSum int
	for k := 0; k < len(queue); k++ {
		o := queue[k]
		at := base + int32(k)
		l, r := t.left[o], t.right[o]
		if l == -1 && r == -1 {
			f.nodes[at] = node{cond: float32(math.NaN()), left: at - 1, dflt: at}
			f.leaf[at] = t.splitConditions[o]
			d := int(depth[k])
			maxDepth = max(maxDepth, d)
			leaves++
			depthSum += d
			continue
		}
		for _, c := range []struct {
			side  string
			child int64
		}{{"left", l}, {"right", r}} {
			switch {
			case c.child < 0 || c.child >= int64(n):
				if c.child == -1 {
					return errorf("node %d: %s child is -1 (leaf) but the other child is %d", o, c.side, l+r+1)
				}
				return errorf("node %d: %s child %d out of range [0, %d)", o, c.side, c.child, n)
			case seen[c.child]:
				return errorf("node %d: %s child %d is reached twice (a cycle or a shared subtree)", o, c.side, c.child)
			}
			seen[c.child] = true
		}
		feat := t.splitIndices[o]
		if feat < 0 || feat >= int64(nFeature) {
			return errorf("node %d: split feature %d out of range (num_feature is %d)", o, feat, nFeature)
		}
		left := int32(len(f.nodes))
		nd := node{cond: t.splitConditions[o], feat: uint32(feat), left: left, dflt: left + 1}
		if t.defaultLeft[o] {
			nd.dflt = left
		}
		f.nodes[at] = nd
		f.nodes = append(f.nodes, node{}, node{})
		f.leaf = append(f.leaf, 0, 0)
		f.cover = append(f.cover, coverOf(l), coverOf(r))
		if f.cats != nil {
			f.cats = append(f.cats, catSplit{}, catSplit{})
			if c, ok := cats[o]; ok {
				f.cats[at] = catSplit{beg: int32(len(f.catValues)), n: int32(len(c))}
				f.catValues = append(f.catValues, c...)
			}
		}
		queue = append(queue, l, r)
		depth = append(depth, depth[k]+1, depth[k]+1)
	}
	f.roots = append(f.roots, base)
	f.depth = append(f.depth, int32(maxDepth))
	steps := int32(-1)
	if lockStep(maxDepth, float64(depthSum)/float64(leaves)) {
		steps = int32(maxDepth)
	}
	f.steps = append(f.steps, steps)
	return nil
}

// lockStep decides whether a tree is walked in lock step: when its deepest
// leaf is not much deeper than its average leaf, as in the balanced trees
// of XGBoost's default depthwise growth.
func lockStep(maxDepth int, meanDepth float64) bool {
	return maxDepth <= 32 && float64(maxDepth) <= 1.5*meanDepth+2
}

// categorySets returns, for each categorical split node, its sorted
// categories (those that go right), or nil when the tree has none.
func (t *rawTree) categorySets(n int) (map[int64][]int32, error) {
	k := len(t.catNodes)
	if len(t.catSegments) != k || len(t.catSizes) != k {
		return nil, errorf("categories_nodes, categories_segments and categories_sizes have %d, %d and %d entries, want the same",
			k, len(t.catSegments), len(t.catSizes))
	}
	isCat := func(i int64) bool { return len(t.splitType) != 0 && t.splitType[i] == 1 }
	for i, st := range t.splitType {
		if st != 0 && st != 1 {
			return nil, errorf("node %d: split_type %d, want 0 (numerical) or 1 (categorical)", i, st)
		}
	}
	var sets map[int64][]int32
	for j := 0; j < k; j++ {
		nid, beg, size := t.catNodes[j], t.catSegments[j], t.catSizes[j]
		if nid < 0 || nid >= int64(n) {
			return nil, errorf("categories_nodes[%d]: node %d out of range [0, %d)", j, nid, n)
		}
		if !isCat(nid) {
			return nil, errorf("categories_nodes[%d]: node %d has a numerical split_type", j, nid)
		}
		if _, dup := sets[nid]; dup {
			return nil, errorf("categories_nodes[%d]: node %d listed twice", j, nid)
		}
		if beg < 0 || size < 1 || beg > int64(len(t.categories)) || size > int64(len(t.categories))-beg {
			return nil, errorf("categories_nodes[%d]: segment [%d, %d+%d) out of range of %d categories", j, beg, beg, size, len(t.categories))
		}
		set := make([]int32, 0, size)
		for _, c := range t.categories[beg : beg+size] {
			if c < 0 || c > math.MaxInt32 {
				return nil, errorf("node %d: category %d out of range", nid, c)
			}
			set = append(set, int32(c))
		}
		slices.Sort(set)
		if sets == nil {
			sets = make(map[int64][]int32)
		}
		sets[nid] = set
	}
	for i := range t.splitType {
		if isCat(int64(i)) {
			if _, ok := sets[int64(i)]; !ok {
				return nil, errorf("node %d: categorical split without categories", i)
			}
		}
	}
	return sets, nil
}

// inCategories reports whether v, read as a category, is in the sorted set,
// which sends it right. Like XGBoost's common::Decision, a negative or
// too-large value is an invalid category and goes left, and a fractional
// value is truncated.
func inCategories(set []int32, v float32) bool {
	if !(v >= 0) || v >= maxCategory {
		return false
	}
	c := int32(v)
	_, found := slices.BinarySearch(set, c)
	return found
}
