package lightgbm

import "math"

// kZeroThreshold is LightGBM's kZeroThreshold: the float literal 1e-35f
// widened to double, so 1.0000000180025095e-35 rather than 1e-35.
var kZeroThreshold = float64(float32(1e-35))

// Missing-value types, bits 2-3 of LightGBM's decision_type.
const (
	missingNone = 0
	missingZero = 1
	missingNaN  = 2
)

// Bits of node.flags.
const (
	flagMissingMask = 3 // missingNone, missingZero or missingNaN
	flagDefaultLeft = 4
	flagCategorical = 8
)

// node is one internal node of a tree. Children >= 0 are node indices,
// children < 0 are ^leaf, as in LightGBM.
type node struct {
	threshold float64
	feature   int32
	left      int32
	right     int32
	// catStart and catEnd bound the node's bitset in tree.catBits
	// (categorical nodes only).
	catStart int32
	catEnd   int32
	flags    uint8
}

// tree is one validated regression tree. A tree with no nodes has a single
// leaf.
type tree struct {
	nodes     []node
	leafValue []float64
	catBits   []uint32
	// linear holds the per-leaf linear models of a linear tree, or nil.
	linear *linearLeaves
	// leafCount and internalCount are the training rows that reached each
	// leaf and node (leaf_count, internal_count), the covers TreeSHAP
	// weighs branches by; nil when the model file has none.
	leafCount, internalCount []float64
}

// linearLeaves are the linear models of a linear tree's leaves: leaf l
// predicts constant[l] + sum(coeff[i]*x[feature[i]]) over
// i in [start[l], start[l+1]).
type linearLeaves struct {
	constant []float64
	start    []int32
	feature  []int32
	coeff    []float64
}

// predict returns the tree's output for one row of features.
func (t *tree) predict(row []float64) float64 {
	leaf := 0
	if len(t.nodes) > 0 {
		leaf = t.leaf(row)
	}
	if t.linear == nil {
		return t.leafValue[leaf]
	}
	// Tree::Predict for linear trees: the leaf's linear model, unless one
	// of its features is NaN, in which case the plain leaf value.
	lin := t.linear
	out := lin.constant[leaf]
	for i := lin.start[leaf]; i < lin.start[leaf+1]; i++ {
		v := row[lin.feature[i]]
		if math.IsNaN(v) {
			return t.leafValue[leaf]
		}
		out += lin.coeff[i] * v
	}
	return out
}

// leaf walks the tree from the root and returns the leaf row falls in.
// Validation at load guarantees termination and in-range indices.
func (t *tree) leaf(row []float64) int {
	i := int32(0)
	for {
		n := &t.nodes[i]
		var next int32
		if n.flags&flagCategorical != 0 {
			next = t.categorical(n, row[n.feature])
		} else {
			next = numerical(n, row[n.feature])
		}
		if next < 0 {
			return int(^next)
		}
		i = next
	}
}

// numerical is LightGBM's Tree::NumericalDecision.
func numerical(n *node, v float64) int32 {
	missing := n.flags & flagMissingMask
	if math.IsNaN(v) {
		if missing != missingNaN {
			v = 0
		} else {
			return n.defaultChild()
		}
	}
	if missing == missingZero && v >= -kZeroThreshold && v <= kZeroThreshold {
		return n.defaultChild()
	}
	if v <= n.threshold {
		return n.left
	}
	return n.right
}

func (n *node) defaultChild() int32 {
	if n.flags&flagDefaultLeft != 0 {
		return n.left
	}
	return n.right
}

// categorical is LightGBM's Tree::CategoricalDecision: the value is
// truncated to a C int; NaN, negative values and values outside the bitset
// go right.
func (t *tree) categorical(n *node, v float64) int32 {
	// static_cast<int> truncates toward zero, so (-1, 0) becomes category
	// 0; out-of-range values become INT_MIN on x86 (negative, so right).
	if math.IsNaN(v) || v <= -1 || v >= 1<<31 {
		return n.right
	}
	c := int64(v)
	word := n.catStart + int32(c/32)
	if word >= n.catEnd {
		return n.right
	}
	if t.catBits[word]>>(uint(c)%32)&1 != 0 {
		return n.left
	}
	return n.right
}
