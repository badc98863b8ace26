package lightgbm

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// ensemble is a parsed and validated model file.
type ensemble struct {
	version      string
	numClass     int
	treesPerIter int
	numFeatures  int
	featureNames []string
	// categorical marks features whose feature_infos lists categories.
	categorical []bool
	obj         objective
	average     bool
	trees       []tree
}

// invalidf returns an error wrapping inference.ErrInvalidModel.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("lightgbm: %w: %s", inference.ErrInvalidModel, fmt.Sprintf(format, args...))
}

// lines iterates over the lines of a model file, accepting \n and \r\n.
type lines struct {
	s   string
	pos int
	// n is the 1-based number of the line last returned.
	n int
}

func (l *lines) next() (string, bool) {
	if l.pos >= len(l.s) {
		return "", false
	}
	rest := l.s[l.pos:]
	line := rest
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		line = rest[:i]
		l.pos += i + 1
	} else {
		l.pos = len(l.s)
	}
	l.n++
	return strings.TrimSuffix(line, "\r"), true
}

// header keys LightGBM's GBDT::LoadModelFromString requires.
var requiredHeader = []string{"version", "num_class", "label_index", "max_feature_idx", "feature_names", "feature_infos"}

// parseEnsemble parses a LightGBM text model and validates its structure.
func parseEnsemble(text string) (*ensemble, error) {
	l := &lines{s: text}
	first, _ := l.next()
	if strings.TrimSpace(first) != "tree" {
		return nil, invalidf(`line 1: got %q, want "tree": not a LightGBM text model`, clip(first))
	}

	// Header: key=value lines (or bare flags such as average_output) up to
	// the first Tree= line.
	header := map[string]string{}
	headerLine := map[string]int{}
	var treeLine string
	for {
		line, ok := l.next()
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "Tree=") || line == "end of trees" {
			treeLine = line
			break
		}
		key, val, _ := strings.Cut(line, "=")
		if _, dup := header[key]; dup {
			return nil, invalidf("line %d: %s appears twice in the header (first on line %d)", l.n, key, headerLine[key])
		}
		header[key], headerLine[key] = val, l.n
	}
	for _, k := range requiredHeader {
		if _, ok := header[k]; !ok {
			return nil, invalidf("header: missing %s= line", k)
		}
	}
	e := &ensemble{}
	if err := e.parseHeader(header, headerLine); err != nil {
		return nil, err
	}

	// Trees, each a block of key=value lines ending at a blank line.
	for strings.HasPrefix(treeLine, "Tree=") {
		at := l.n
		idx, err := strconv.Atoi(strings.TrimSpace(treeLine[len("Tree="):]))
		if err != nil || idx != len(e.trees) {
			return nil, invalidf("line %d: %q: want Tree=%d", at, clip(treeLine), len(e.trees))
		}
		kv := map[string]string{}
		for {
			line, ok := l.next()
			if !ok || strings.TrimSpace(line) == "" {
				break
			}
			key, val, ok := strings.Cut(line, "=")
			if !ok {
				return nil, invalidf("Tree=%d: line %d: %q is not key=value", idx, l.n, clip(line))
			}
			if _, dup := kv[key]; dup {
				return nil, invalidf("Tree=%d: line %d: %s appears twice", idx, l.n, key)
			}
			kv[key] = val
		}
		t, err := parseTree(kv, e.numFeatures)
		if err != nil {
			return nil, invalidf("Tree=%d (line %d): %v", idx, at, err)
		}
		e.trees = append(e.trees, t)

		treeLine = ""
		for {
			line, ok := l.next()
			if !ok {
				break
			}
			if strings.TrimSpace(line) != "" {
				treeLine = line
				break
			}
		}
	}
	if len(e.trees) == 0 {
		return nil, invalidf("the model has no trees")
	}
	_, hasSizes := header["tree_sizes"]
	if treeLine != "end of trees" {
		// Without the end marker a file cut at a tree boundary looks
		// complete. LightGBM has written the marker since before format
		// v3; older v2 files can still be checked against tree_sizes.
		if e.version != "v2" || !hasSizes {
			return nil, invalidf(`no "end of trees" line after Tree=%d: the model is truncated`, len(e.trees)-1)
		}
		for {
			line, ok := l.next()
			if !ok {
				break
			}
			if strings.HasPrefix(line, "Tree=") {
				return nil, invalidf("line %d: %s after a line that is not a tree (%q)", l.n, line, clip(treeLine))
			}
		}
	}

	if len(e.trees)%e.treesPerIter != 0 {
		return nil, invalidf("%d trees is not a multiple of num_tree_per_iteration=%d: the model is truncated", len(e.trees), e.treesPerIter)
	}
	if s, ok := header["tree_sizes"]; ok {
		if n := len(strings.Fields(s)); n != len(e.trees) {
			return nil, invalidf("line %d: tree_sizes lists %d trees but the file has %d: the model is truncated or corrupt", headerLine["tree_sizes"], n, len(e.trees))
		}
	}
	return e, nil
}

// parseHeader reads the header values the runtime needs.
func (e *ensemble) parseHeader(h map[string]string, at map[string]int) error {
	bad := func(key, format string, args ...any) error {
		return invalidf("line %d: %s=%s: %s", at[key], key, clip(h[key]), fmt.Sprintf(format, args...))
	}
	e.version = strings.TrimSpace(h["version"])
	switch e.version {
	case "v2", "v3", "v4":
	default:
		return bad("version", "unsupported model format version (want v2, v3 or v4)")
	}
	var err error
	if e.numClass, err = strconv.Atoi(strings.TrimSpace(h["num_class"])); err != nil || e.numClass < 1 {
		return bad("num_class", "want an integer >= 1")
	}
	e.treesPerIter = e.numClass
	if s, ok := h["num_tree_per_iteration"]; ok {
		if e.treesPerIter, err = strconv.Atoi(strings.TrimSpace(s)); err != nil || e.treesPerIter < 1 {
			return bad("num_tree_per_iteration", "want an integer >= 1")
		}
	}
	maxIdx, err := strconv.Atoi(strings.TrimSpace(h["max_feature_idx"]))
	if err != nil || maxIdx < 0 {
		return bad("max_feature_idx", "want an integer >= 0")
	}
	names := strings.Fields(h["feature_names"])
	if len(names) != maxIdx+1 {
		return invalidf("line %d: feature_names has %d names, want max_feature_idx+1 = %d", at["feature_names"], len(names), maxIdx+1)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return invalidf("line %d: feature_names: %q appears twice", at["feature_names"], clip(n))
		}
		seen[n] = true
	}
	infos := strings.Fields(h["feature_infos"])
	if len(infos) != maxIdx+1 {
		return invalidf("line %d: feature_infos has %d entries, want max_feature_idx+1 = %d", at["feature_infos"], len(infos), maxIdx+1)
	}
	e.numFeatures = maxIdx + 1
	e.featureNames = names
	e.categorical = make([]bool, len(infos))
	for i, info := range infos {
		e.categorical[i] = isCategoryList(info)
	}
	if e.obj, err = parseObjective(h["objective"]); err != nil {
		return bad("objective", "%v", err)
	}
	if e.obj.outputs != e.treesPerIter && e.obj.name != "custom" {
		return invalidf("line %d: objective=%s works on %d score(s) per row but num_tree_per_iteration is %d", at["objective"], clip(h["objective"]), e.obj.outputs, e.treesPerIter)
	}
	if e.obj.name == "custom" {
		e.obj.outputs = e.treesPerIter
	}
	_, e.average = h["average_output"]
	return nil
}

// isCategoryList reports whether a feature_infos entry lists categories
// ("1:0:3:-1") rather than a numerical range ("[0:999]") or "none".
func isCategoryList(info string) bool {
	if info == "none" || strings.HasPrefix(info, "[") {
		return false
	}
	for _, c := range strings.Split(info, ":") {
		if _, err := strconv.Atoi(c); err != nil {
			return false
		}
	}
	return true
}

// parseTree builds and validates one tree from its key=value lines,
// following LightGBM's Tree::Tree(const char*, size_t*).
func parseTree(kv map[string]string, numFeatures int) (tree, error) {
	var t tree
	numLeaves, err := intValue(kv, "num_leaves")
	if err != nil {
		return t, err
	}
	if numLeaves < 1 {
		return t, fmt.Errorf("num_leaves=%d: must be >= 1", numLeaves)
	}
	numCat, err := intValue(kv, "num_cat")
	if err != nil {
		return t, err
	}
	if numCat < 0 || numCat > numLeaves-1 {
		return t, fmt.Errorf("num_cat=%d: must be in [0, num_leaves-1 = %d]", numCat, numLeaves-1)
	}
	if t.leafValue, err = floats(kv, "leaf_value", numLeaves); err != nil {
		return t, err
	}
	isLinear := false
	if _, ok := kv["is_linear"]; ok {
		v, err := intValue(kv, "is_linear")
		if err != nil {
			return t, err
		}
		if v != 0 && v != 1 {
			return t, fmt.Errorf("is_linear=%d: want 0 or 1", v)
		}
		isLinear = v == 1
	}
	if numLeaves > 1 {
		if err := t.parseNodes(kv, numLeaves, numCat, numFeatures); err != nil {
			return t, err
		}
	}
	if isLinear {
		if t.linear, err = parseLinear(kv, numLeaves, numFeatures); err != nil {
			return t, err
		}
	}
	if err := t.parseCounts(kv, numLeaves); err != nil {
		return t, err
	}
	return t, nil
}

// parseCounts reads the optional leaf_count and internal_count, which
// only explanations use: a model without them still predicts.
func (t *tree) parseCounts(kv map[string]string, numLeaves int) error {
	_, hasLeaf := kv["leaf_count"]
	_, hasInternal := kv["internal_count"]
	if !hasLeaf || (numLeaves > 1 && !hasInternal) {
		return nil
	}
	leaf, err := floats(kv, "leaf_count", numLeaves)
	if err != nil {
		return err
	}
	var internal []float64
	if numLeaves > 1 {
		if internal, err = floats(kv, "internal_count", numLeaves-1); err != nil {
			return err
		}
	}
	for i, c := range append(leaf[:len(leaf):len(leaf)], internal...) {
		if !(c >= 0) || math.IsInf(c, 0) {
			return fmt.Errorf("leaf_count/internal_count[%d]=%g: must be a finite count >= 0", i, c)
		}
	}
	t.leafCount, t.internalCount = leaf, internal
	return nil
}

// parseNodes reads and validates the internal nodes of a tree with
// numLeaves > 1 leaves.
func (t *tree) parseNodes(kv map[string]string, numLeaves, numCat, numFeatures int) error {
	n := numLeaves - 1
	features, err := ints(kv, "split_feature", n)
	if err != nil {
		return err
	}
	thresholds, err := floats(kv, "threshold", n)
	if err != nil {
		return err
	}
	lefts, err := ints(kv, "left_child", n)
	if err != nil {
		return err
	}
	rights, err := ints(kv, "right_child", n)
	if err != nil {
		return err
	}
	decisions := make([]int, n) // LightGBM defaults a missing line to 0
	if _, ok := kv["decision_type"]; ok {
		if decisions, err = ints(kv, "decision_type", n); err != nil {
			return err
		}
	}
	var bounds []int
	if numCat > 0 {
		if bounds, err = ints(kv, "cat_boundaries", numCat+1); err != nil {
			return err
		}
		if bounds[0] != 0 {
			return fmt.Errorf("cat_boundaries[0]=%d: want 0", bounds[0])
		}
		for i := 1; i < len(bounds); i++ {
			if bounds[i] < bounds[i-1] {
				return fmt.Errorf("cat_boundaries[%d]=%d is less than cat_boundaries[%d]=%d", i, bounds[i], i-1, bounds[i-1])
			}
		}
		words := strings.Fields(kv["cat_threshold"])
		if last := bounds[numCat]; len(words) != last {
			return fmt.Errorf("cat_threshold has %d values, want cat_boundaries[%d] = %d", len(words), numCat, last)
		}
		t.catBits = make([]uint32, len(words))
		for i, w := range words {
			v, err := strconv.ParseUint(w, 10, 32)
			if err != nil {
				return fmt.Errorf("cat_threshold[%d]=%q: not a uint32", i, clip(w))
			}
			t.catBits[i] = uint32(v)
		}
	}

	t.nodes = make([]node, n)
	for i := range t.nodes {
		nd := &t.nodes[i]
		if f := features[i]; f < 0 || f >= numFeatures {
			return fmt.Errorf("split_feature[%d]=%d: out of range [0, %d)", i, f, numFeatures)
		}
		dt := decisions[i]
		if dt < 0 || dt > 15 || dt>>2 == 3 {
			return fmt.Errorf("decision_type[%d]=%d: want 0..15 with bit 0 categorical, bit 1 default left, bits 2-3 missing type 0 (None), 1 (Zero) or 2 (NaN)", i, dt)
		}
		nd.feature = int32(features[i])
		nd.threshold = thresholds[i]
		nd.flags = uint8(dt>>2) | uint8(dt&2)<<1
		// Like Tree::GetLeaf, a tree without categorical splits decides
		// every node numerically, whatever its categorical bit says.
		if dt&1 != 0 && numCat > 0 {
			th := thresholds[i]
			if th != math.Trunc(th) || th < 0 || th >= float64(numCat) {
				return fmt.Errorf("threshold[%d]=%v: a categorical split needs an integer index in [0, num_cat=%d)", i, th, numCat)
			}
			c := int(th)
			nd.flags |= flagCategorical
			nd.catStart, nd.catEnd = int32(bounds[c]), int32(bounds[c+1])
		}
		for side, c := range [2]int{lefts[i], rights[i]} {
			name := [2]string{"left_child", "right_child"}[side]
			if c >= n || c < -numLeaves {
				return fmt.Errorf("%s[%d]=%d: out of range (nodes 0..%d, leaves -1..%d)", name, i, c, n-1, -numLeaves)
			}
		}
		nd.left, nd.right = int32(lefts[i]), int32(rights[i])
	}
	return t.checkShape(numLeaves)
}

// checkShape verifies that the nodes form one binary tree rooted at node 0
// that reaches every node and every leaf exactly once, so that walking it
// always ends at a leaf.
func (t *tree) checkShape(numLeaves int) error {
	n := len(t.nodes)
	nodeRefs := make([]int32, n) // parent+1 of each node, 0 if none yet
	leafRefs := make([]int32, numLeaves)
	for i := range t.nodes {
		for _, c := range [2]int32{t.nodes[i].left, t.nodes[i].right} {
			if c >= 0 {
				if c == 0 {
					return fmt.Errorf("node %d has the root (node 0) as a child", i)
				}
				if nodeRefs[c] != 0 {
					return fmt.Errorf("node %d is a child of both node %d and node %d", c, nodeRefs[c]-1, i)
				}
				nodeRefs[c] = int32(i) + 1
			} else {
				l := ^c
				if leafRefs[l] != 0 {
					return fmt.Errorf("leaf %d is a child of both node %d and node %d", l, leafRefs[l]-1, i)
				}
				leafRefs[l] = int32(i) + 1
			}
		}
	}
	// Every target has at most one parent and the root none, so a walk
	// from the root visits each node once; count what it reaches.
	stack := []int32{0}
	nodes, leaves := 0, 0
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nodes++
		for _, c := range [2]int32{t.nodes[i].left, t.nodes[i].right} {
			if c >= 0 {
				stack = append(stack, c)
			} else {
				leaves++
			}
		}
	}
	if nodes != n || leaves != numLeaves {
		return fmt.Errorf("left_child/right_child: the root reaches %d of %d nodes and %d of %d leaves", nodes, n, leaves, numLeaves)
	}
	return nil
}

// parseLinear reads the leaf models of a linear tree (model format v4).
func parseLinear(kv map[string]string, numLeaves, numFeatures int) (*linearLeaves, error) {
	lin := &linearLeaves{}
	var err error
	if lin.constant, err = floats(kv, "leaf_const", numLeaves); err != nil {
		return nil, err
	}
	counts, err := ints(kv, "num_features", numLeaves)
	if err != nil {
		return nil, err
	}
	lin.start = make([]int32, numLeaves+1)
	total := 0
	for i, c := range counts {
		if c < 0 || c > numFeatures {
			return nil, fmt.Errorf("num_features[%d]=%d: out of range [0, %d]", i, c, numFeatures)
		}
		total += c
		lin.start[i+1] = int32(total)
	}
	if total == 0 {
		return lin, nil
	}
	feats, err := ints(kv, "leaf_features", total)
	if err != nil {
		return nil, err
	}
	lin.feature = make([]int32, total)
	for i, f := range feats {
		if f < 0 || f >= numFeatures {
			return nil, fmt.Errorf("leaf_features[%d]=%d: out of range [0, %d)", i, f, numFeatures)
		}
		lin.feature[i] = int32(f)
	}
	if lin.coeff, err = floats(kv, "leaf_coeff", total); err != nil {
		return nil, err
	}
	return lin, nil
}

// intValue returns the integer value of a required key.
func intValue(kv map[string]string, key string) (int, error) {
	s, ok := kv[key]
	if !ok {
		return 0, fmt.Errorf("missing %s= line", key)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s=%s: not an integer", key, clip(s))
	}
	return int(v), nil
}

// ints returns the want space-separated 32-bit integers of a required key.
func ints(kv map[string]string, key string, want int) ([]int, error) {
	fields, err := fieldsOf(kv, key, want)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]=%q: not an integer", key, i, clip(f))
		}
		out[i] = int(v)
	}
	return out, nil
}

// floats returns the want space-separated numbers of a required key.
func floats(kv map[string]string, key string, want int) ([]float64, error) {
	fields, err := fieldsOf(kv, key, want)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := parseDouble(f)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]=%q: not a number", key, i, clip(f))
		}
		out[i] = v
	}
	return out, nil
}

func fieldsOf(kv map[string]string, key string, want int) ([]string, error) {
	s, ok := kv[key]
	if !ok {
		return nil, fmt.Errorf("missing %s= line", key)
	}
	fields := strings.Fields(s)
	if len(fields) != want {
		return nil, fmt.Errorf("%s has %d values, want %d", key, len(fields), want)
	}
	return fields, nil
}

// parseDouble parses a number as LightGBM writes it, including the "nan"
// and "inf" spellings of C++ streams.
func parseDouble(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err == nil {
		return v, nil
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return v, nil // ±Inf or 0 after overflow or underflow, like strtod
	}
	switch strings.ToLower(s) {
	case "-nan", "+nan", "nan(ind)", "-nan(ind)", "na":
		return math.NaN(), nil
	case "1.#inf":
		return math.Inf(1), nil
	case "-1.#inf":
		return math.Inf(-1), nil
	}
	return 0, err
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
