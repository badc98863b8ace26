package lightgbm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

var _ inference.Explainer = (*Model)(nil)

// Explain returns each row's feature contributions to the raw score, per
// output (class), by exact path-dependent TreeSHAP as LightGBM's
// predict(pred_contrib=True) computes it: each tree's expected value (its
// leaves weighed by leaf_count) goes to the bias column, and the leaf
// counts weigh both branches of a split on a feature outside the
// coalition. For a random forest (average_output) the sums are divided by
// the number of iterations, like its scores, so that contributions and
// bias still add up to the raw score; LightGBM's pred_contrib leaves them
// undivided, which does not add up. Linear trees cannot be explained.
func (m *Model) Explain(ctx context.Context, inputs []inference.Tensor) (*inference.Explanation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range m.trees {
		t := &m.trees[i]
		if t.linear != nil {
			return nil, fmt.Errorf("%w: tree %d is a linear tree (linear_tree=true), which TreeSHAP does not cover", inference.ErrNotExplainable, i)
		}
		if t.leafCount == nil {
			return nil, fmt.Errorf("%w: tree %d has no leaf_count/internal_count, which TreeSHAP needs", inference.ErrNotExplainable, i)
		}
	}
	if len(inputs) != 1 {
		return nil, inference.Inputf("inputs", "got %d tensors, want 1 named %q", len(inputs), m.inName)
	}
	in := &inputs[0]
	if in.Name != m.inName {
		return nil, inference.Inputf(in.Name, "unknown input: the model takes one input named %q", m.inName)
	}
	rows, data, err := inference.Dense64(in, m.numFeatures)
	if err != nil {
		return nil, err
	}
	nf, k := m.numFeatures, m.numOut
	cols := nf + 1
	e := &inference.Explanation{Rows: rows, Groups: k, Values: make([]float64, rows*k*cols), Space: inference.SpaceMargin, Method: "tree_shap"}
	var depth int
	for i := range m.trees {
		d := m.trees[i].depth()
		if d > inference.MaxExplainDepth {
			return nil, fmt.Errorf("%w: tree %d is %d levels deep; TreeSHAP is limited to %d (its memory grows with the square of the depth)", inference.ErrNotExplainable, i, d, inference.MaxExplainDepth)
		}
		depth = max(depth, d)
	}
	maxd := depth + 2
	path := make([]pathElem, maxd*(maxd+1)/2)
	expected := make([]float64, len(m.trees))
	for i := range m.trees {
		expected[i] = m.trees[i].expectedValue()
	}
	for r := range rows {
		if r%ctxCheckRows == ctxCheckRows-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := data[r*nf : (r+1)*nf]
		out := e.Values[r*k*cols : (r+1)*k*cols]
		t := 0
		for range m.numIter {
			for c := range k {
				phi := out[c*cols : (c+1)*cols]
				phi[nf] += expected[t]
				if len(m.trees[t].nodes) > 0 {
					m.trees[t].treeShap(row, phi, 0, 0, path, 1, 1, -1)
				}
				t++
			}
		}
		if m.average {
			n := float64(m.numIter)
			for j := range out {
				out[j] /= n
			}
		}
	}
	for _, f := range m.sig.Inputs[0].Features {
		e.Features = append(e.Features, f.Name)
	}
	if k > 1 {
		e.GroupLabels = m.sig.Outputs[0].Labels
		if len(e.GroupLabels) != k {
			e.GroupLabels = make([]string, k)
			for g := range e.GroupLabels {
				e.GroupLabels[g] = strconv.Itoa(g)
			}
		}
	}
	return e, nil
}

// expectedValue is LightGBM's Tree::ExpectedValue: the leaves' values
// weighed by the share of the training rows that reached them.
func (t *tree) expectedValue() float64 {
	if len(t.nodes) == 0 {
		return t.leafValue[0]
	}
	total := t.internalCount[0]
	var v float64
	for i, c := range t.leafCount {
		v += (c / total) * t.leafValue[i]
	}
	return v
}

// depth returns the number of splits on the tree's longest path.
func (t *tree) depth() int {
	if len(t.nodes) == 0 {
		return 0
	}
	var walk func(i int32) int
	walk = func(i int32) int {
		if i < 0 {
			return 0
		}
		n := &t.nodes[i]
		return 1 + max(walk(n.left), walk(n.right))
	}
	return walk(0)
}

// count returns the training rows that reached child c (a node index, or
// ^leaf).
func (t *tree) count(c int32) float64 {
	if c < 0 {
		return t.leafCount[^c]
	}
	return t.internalCount[c]
}

// decide returns the child of node i that row follows.
func (t *tree) decide(n *node, row []float64) int32 {
	if n.flags&flagCategorical != 0 {
		return t.categorical(n, row[n.feature])
	}
	return numerical(n, row[n.feature])
}

// pathElem is one feature on the unique path from the root to a node (see
// the XGBoost runtime's shap.go for the algorithm; LightGBM runs the same
// recursion in float64).
type pathElem struct {
	feat    int32
	zero    float64
	one     float64
	pweight float64
}

func extendPath(p []pathElem, d int, zero, one float64, feat int32) {
	p[d] = pathElem{feat: feat, zero: zero, one: one}
	if d == 0 {
		p[d].pweight = 1
	}
	fd := float64(d + 1)
	for i := d - 1; i >= 0; i-- {
		p[i+1].pweight += one * p[i].pweight * float64(i+1) / fd
		p[i].pweight = zero * p[i].pweight * float64(d-i) / fd
	}
}

func unwindPath(p []pathElem, d, k int) {
	one, zero := p[k].one, p[k].zero
	next := p[d].pweight
	fd := float64(d + 1)
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := p[i].pweight
			p[i].pweight = next * fd / (float64(i+1) * one)
			next = tmp - p[i].pweight*zero*float64(d-i)/fd
		} else {
			p[i].pweight = p[i].pweight * fd / (zero * float64(d-i))
		}
	}
	for i := k; i < d; i++ {
		p[i].feat, p[i].zero, p[i].one = p[i+1].feat, p[i+1].zero, p[i+1].one
	}
}

func unwoundPathSum(p []pathElem, d, k int) float64 {
	one, zero := p[k].one, p[k].zero
	next := p[d].pweight
	var total float64
	fd := float64(d + 1)
	for i := d - 1; i >= 0; i-- {
		switch {
		case one != 0:
			tmp := next * fd / (float64(i+1) * one)
			total += tmp
			next = p[i].pweight - tmp*zero*(float64(d-i)/fd)
		case zero != 0:
			total += (p[i].pweight / zero) / (float64(d-i) / fd)
		}
	}
	return total
}

// treeShap is LightGBM's Tree::TreeSHAP: it walks child c (a node, or
// ^leaf) with the unique path of depth d ending in parent.
func (t *tree) treeShap(row, phi []float64, c int32, d int, parent []pathElem, parentZero, parentOne float64, parentFeat int32) {
	path := parent[d+1:]
	copy(path[:d+1], parent[:d+1])
	extendPath(path, d, parentZero, parentOne, parentFeat)
	if c < 0 {
		leaf := t.leafValue[^c]
		for k := 1; k <= d; k++ {
			w := unwoundPathSum(path, d, k)
			el := &path[k]
			phi[el.feat] += w * (el.one - el.zero) * leaf
		}
		return
	}
	n := &t.nodes[c]
	hot := t.decide(n, row)
	cold := n.left
	if hot == n.left {
		cold = n.right
	}
	w := t.count(c)
	hotZero := t.count(hot) / w
	coldZero := t.count(cold) / w
	inZero, inOne := 1.0, 1.0
	k := 0
	for ; k <= d; k++ {
		if path[k].feat == n.feature {
			break
		}
	}
	if k != d+1 {
		inZero, inOne = path[k].zero, path[k].one
		unwindPath(path, d, k)
		d--
	}
	t.treeShap(row, phi, hot, d+1, path, hotZero*inZero, inOne, n.feature)
	t.treeShap(row, phi, cold, d+1, path, coldZero*inZero, 0, n.feature)
}
