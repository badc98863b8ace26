package xgboost

// TreeSHAP: exact Shapley values of a tree ensemble's margin, by the
// path-dependent algorithm of Lundberg, Erion and Lee ("Consistent
// Individualized Feature Attribution for Tree Ensembles", 2018), as
// XGBoost's RegTree::CalculateContributions implements it. Each node's
// cover (sum_hessian) stands for the training data that reached it: a
// feature outside the coalition follows both branches, weighed by their
// covers. The arithmetic is float32 in XGBoost's order of operations, so
// the values match predict(pred_contribs=True) to float32 rounding.

// pathElem is one feature on the unique path from the root to a node:
// the fractions of the paths with the feature out of the coalition
// (zero) and in it (one), and the permutation weight pweight of the
// subsets with this element's position worth of features.
type pathElem struct {
	feat    int32
	zero    float32
	one     float32
	pweight float32
}

// extendPath adds a feature to the path of depth d.
func extendPath(p []pathElem, d int, zero, one float32, feat int32) {
	p[d] = pathElem{feat: feat, zero: zero, one: one}
	if d == 0 {
		p[d].pweight = 1
	}
	fd := float32(d + 1)
	for i := d - 1; i >= 0; i-- {
		p[i+1].pweight += float32(float32(one*p[i].pweight)*float32(i+1)) / fd
		p[i].pweight = float32(float32(zero*p[i].pweight)*float32(d-i)) / fd
	}
}

// unwindPath undoes the extension of element k of the path of depth d.
func unwindPath(p []pathElem, d, k int) {
	one, zero := p[k].one, p[k].zero
	next := p[d].pweight
	fd := float32(d + 1)
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := p[i].pweight
			p[i].pweight = float32(next*fd) / float32(float32(i+1)*one)
			next = tmp - float32(float32(p[i].pweight*zero)*float32(d-i))/fd
		} else {
			p[i].pweight = float32(p[i].pweight*fd) / float32(zero*float32(d-i))
		}
	}
	for i := k; i < d; i++ {
		p[i].feat, p[i].zero, p[i].one = p[i+1].feat, p[i+1].zero, p[i+1].one
	}
}

// unwoundPathSum is the total permutation weight the path of depth d would
// have without element k.
func unwoundPathSum(p []pathElem, d, k int) float32 {
	one, zero := p[k].one, p[k].zero
	next := p[d].pweight
	var total float32
	fd := float32(d + 1)
	for i := d - 1; i >= 0; i-- {
		switch {
		case one != 0:
			tmp := float32(next*fd) / float32(float32(i+1)*one)
			total += tmp
			next = p[i].pweight - float32(tmp*zero)*(float32(d-i)/fd)
		case zero != 0:
			total += (p[i].pweight / zero) / (float32(d-i) / fd)
		}
	}
	return total
}

// shapScratch holds one goroutine's working memory for TreeSHAP.
type shapScratch struct {
	path []pathElem // unique paths of every recursion level
	tree []float32  // one tree's contributions, features+1
}

// newShapScratch sizes the scratch for the forest's deepest tree.
func (f *forest) newShapScratch(nFeature int) *shapScratch {
	var depth int32
	for _, d := range f.depth {
		depth = max(depth, d)
	}
	maxd := int(depth) + 2
	return &shapScratch{path: make([]pathElem, maxd*(maxd+1)/2), tree: make([]float32, nFeature+1)}
}

// meanValues returns each node's expected value: its leaf value, or the
// cover-weighted mean of its children's (XGBoost's FillNodeMeanValues).
func (f *forest) meanValues() []float32 {
	mean := make([]float32, len(f.nodes))
	var fill func(i int32) float32
	fill = func(i int32) float32 {
		n := &f.nodes[i]
		var v float32
		if n.isLeaf(i) {
			v = f.leaf[i]
		} else {
			l, r := n.left, n.left+1
			v = float32(fill(l) * f.cover[l])
			v += float32(fill(r) * f.cover[r])
			v /= f.cover[i]
		}
		mean[i] = v
		return v
	}
	for _, root := range f.roots {
		fill(root)
	}
	return mean
}

// hot returns the child of split i that row follows.
func (f *forest) hot(i int32, row []float32) int32 {
	n := &f.nodes[i]
	v := row[n.feat]
	if v != v {
		return n.dflt
	}
	if f.cats != nil {
		if c := f.cats[i]; c.n != 0 {
			if inCategories(f.catValues[c.beg:c.beg+c.n], v) {
				return n.left + 1
			}
			return n.left
		}
	}
	return n.next(v)
}

// contribs adds to phi (features+1, bias last) the contributions of tree
// t for row: its expected value to the bias and the Shapley values of its
// features. mean holds the forest's node means.
func (f *forest) contribs(t int, row, phi []float32, mean []float32, s *shapScratch) {
	root := f.roots[t]
	phi[len(row)] += mean[root]
	f.treeShap(row, phi, root, 0, s.path, 1, 1, -1)
}

// treeShap is XGBoost's RegTree::TreeShap without conditioning: it walks
// node i with the unique path of depth d that ends in parent, which
// stores its own extension after it.
func (f *forest) treeShap(row, phi []float32, i int32, d int, parent []pathElem, parentZero, parentOne float32, parentFeat int32) {
	path := parent[d+1:]
	copy(path[:d+1], parent[:d+1])
	extendPath(path, d, parentZero, parentOne, parentFeat)
	n := &f.nodes[i]
	if n.isLeaf(i) {
		leaf := f.leaf[i]
		for k := 1; k <= d; k++ {
			w := unwoundPathSum(path, d, k)
			el := &path[k]
			phi[el.feat] += float32(float32(w*(el.one-el.zero))*leaf) * 1
		}
		return
	}
	hot := f.hot(i, row)
	cold := n.left
	if hot == n.left {
		cold = n.left + 1
	}
	w := f.cover[i]
	hotZero := f.cover[hot] / w
	coldZero := f.cover[cold] / w
	inZero, inOne := float32(1), float32(1)
	feat := int32(n.feat)
	k := 0
	for ; k <= d; k++ {
		if path[k].feat == feat {
			break
		}
	}
	if k != d+1 {
		inZero, inOne = path[k].zero, path[k].one
		unwindPath(path, d, k)
		d--
	}
	f.treeShap(row, phi, hot, d+1, path, float32(hotZero*inZero), inOne, feat)
	f.treeShap(row, phi, cold, d+1, path, float32(coldZero*inZero), 0, feat)
}
