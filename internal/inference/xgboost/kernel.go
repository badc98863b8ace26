package xgboost

// The prediction kernels. They add each tree's leaf to the margins in tree
// order, in float32, exactly as XGBoost's CPU predictor does, so the sums
// match XGBoost's bit for bit.
//
// A walk down a tree is a chain of dependent loads (node, then feature
// value, then the next node), so one walk at a time leaves the CPU mostly
// waiting. The kernels walk several "lanes" at once: the rows of a block
// through one tree (addBlock), or one row through several trees (addRow).
// Lanes of balanced trees advance in lock step for a fixed number of
// steps with no leaf test: leaves are absorbing (see node), and the child
// select compiles to a conditional move, so nothing is mispredicted.

// lanes is the number of rows (or trees) walked together. Measured on the
// breast_cancer example: 16 is about 1.5 times as fast as 4, and 32 or
// 64 are no faster.
const lanes = 16

// blockRows is the smallest block addBlock is used for; smaller ones (a
// single-row request) go row by row through addRow.
const blockRows = 4

// nextAny returns the child of n that v leads to, NaN included.
func (n *node) nextAny(v float32) int32 {
	j := n.left + 1
	if v < n.cond {
		j = n.left
	}
	if v != v {
		j = n.dflt
	}
	return j
}

// next returns the child of n that v, which is not NaN, leads to.
func (n *node) next(v float32) int32 {
	j := n.left + 1
	if v < n.cond {
		j = n.left
	}
	return j
}

// hasNaN reports whether any value is missing.
func hasNaN(x []float32) bool {
	for _, v := range x {
		if v != v {
			return true
		}
	}
	return false
}

// addBlock adds to m, rows×k margins, the leaves that rows rows of x (nf
// features each) reach in every tree, walking the rows as lanes. rows is
// at most lanes. It handles forests without categorical splits.
func (f *forest) addBlock(x []float32, nf, rows int, m []float32, k int) {
	var idx [lanes]int32
	var off [lanes]int
	nodes := f.nodes
	x = x[:rows*nf]
	for r := range rows {
		off[r] = r * nf
	}
	nan := hasNaN(x)
	for t, root := range f.roots {
		steps := f.steps[t]
		if steps < 0 {
			for r := range rows {
				idx[r] = walk(nodes, root, x[off[r]:off[r]+nf])
			}
			f.addLeaves(t, idx[:rows], m, k)
			continue
		}
		for r := range rows {
			idx[r] = root
		}
		if nan {
			stepRowsAny(nodes, x, idx[:rows], off[:rows], steps)
		} else {
			stepRows(nodes, x, idx[:rows], off[:rows], steps)
		}
		f.addLeaves(t, idx[:rows], m, k)
	}
}

// stepRows advances each lane idx[r] by steps steps through nodes, reading
// its features at x[off[r]:]. No feature may be NaN. It is kept apart from
// addBlock so that its few variables stay in registers.
func stepRows(nodes []node, x []float32, idx []int32, off []int, steps int32) {
	off = off[:len(idx)]
	for ; steps > 0; steps-- {
		for r, i := range idx {
			n := &nodes[i]
			idx[r] = n.next(x[off[r]+int(n.feat)])
		}
	}
}

// stepRowsAny is stepRows for rows that may have missing values.
func stepRowsAny(nodes []node, x []float32, idx []int32, off []int, steps int32) {
	off = off[:len(idx)]
	for ; steps > 0; steps-- {
		for r, i := range idx {
			n := &nodes[i]
			idx[r] = n.nextAny(x[off[r]+int(n.feat)])
		}
	}
}

// addRow adds to m, the row's k margins, the leaves that row reaches in
// every tree, walking up to lanes trees at once.
func (f *forest) addRow(row []float32, m []float32) {
	var idx [lanes]int32
	nodes := f.nodes
	nan := hasNaN(row)
	for t0 := 0; t0 < len(f.roots); t0 += lanes {
		roots := f.roots[t0:min(t0+lanes, len(f.roots))]
		// Lopsided trees are walked to their leaf first; the lock-step
		// steps then leave them there.
		var steps int32
		for l, root := range roots {
			if s := f.steps[t0+l]; s >= 0 {
				idx[l] = root
				steps = max(steps, s)
			} else {
				idx[l] = walk(nodes, root, row)
			}
		}
		if nan {
			for ; steps > 0; steps-- {
				for l := range roots {
					n := &nodes[idx[l]]
					idx[l] = n.nextAny(row[n.feat])
				}
			}
		} else {
			for ; steps > 0; steps-- {
				for l := range roots {
					n := &nodes[idx[l]]
					idx[l] = n.next(row[n.feat])
				}
			}
		}
		for l := range roots {
			t := t0 + l
			leaf := f.leaf[idx[l]]
			if f.weights != nil {
				leaf = float32(leaf * f.weights[t])
			}
			m[f.groups[t]] += leaf
		}
	}
}

// walk follows row from node i to its leaf.
func walk(nodes []node, i int32, row []float32) int32 {
	for {
		n := &nodes[i]
		if n.isLeaf(i) {
			return i
		}
		i = n.nextAny(row[n.feat])
	}
}

// addLeaves adds the values of tree t's leaves idx to the rows' margins.
func (f *forest) addLeaves(t int, idx []int32, m []float32, k int) {
	leaf := f.leaf
	if f.weights == nil && k == 1 {
		m = m[:len(idx)]
		for r, i := range idx {
			m[r] += leaf[i]
		}
		return
	}
	g := int(f.groups[t])
	if f.weights == nil {
		for r, i := range idx {
			m[r*k+g] += leaf[i]
		}
		return
	}
	// dart: the conversion rounds the product to float32, as XGBoost does,
	// and keeps the compiler from fusing it into the addition.
	w := f.weights[t]
	for r, i := range idx {
		m[r*k+g] += float32(leaf[i] * w)
	}
}

// addCategorical adds to m the leaves one row reaches in a forest with
// categorical splits, walking tree by tree.
func (f *forest) addCategorical(row []float32, m []float32) {
	nodes := f.nodes
	for t, i := range f.roots {
		for {
			n := &nodes[i]
			if n.isLeaf(i) {
				break
			}
			v := row[n.feat]
			switch c := f.cats[i]; {
			case v != v:
				i = n.dflt
			case c.n != 0:
				i = n.left
				if inCategories(f.catValues[c.beg:c.beg+c.n], v) {
					i++
				}
			default:
				i = n.next(v)
			}
		}
		leaf := f.leaf[i]
		if f.weights != nil {
			leaf = float32(leaf * f.weights[t])
		}
		m[f.groups[t]] += leaf
	}
}
