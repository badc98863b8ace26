package oip

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// DecodeInstances decodes Sluice's plain JSON form,
//
//	{"instances": [{"feature": value, ...}, ...]}
//
// into a [rows, features] FP64 tensor named spec.Name, with columns in the
// order of spec.Features. A row may also be an array of exactly one value
// per feature, in order, and for a model with a single feature a bare
// value. "inputs" is accepted in place of "instances" (the TF Serving and
// KServe v1 row form); other top-level members are ignored.
//
// Values are JSON numbers, true and false (1 and 0), or null for a missing
// value (NaN). A feature left out of a row is missing too. Missing values
// are an error unless spec.AllowMissing. Strings are an error: categorical
// features are sent as their numeric codes.
//
// Every error about the body is an *inference.InputError naming the JSON
// path at fault, like `instances[2].mean_radius`. The result does not alias
// body.
func DecodeInstances(body []byte, spec inference.TensorSpec, lim Limits) (inference.Tensor, error) {
	if len(spec.Features) == 0 {
		return inference.Tensor{}, fmt.Errorf("oip: input %q has no named features; instances need a tabular input", spec.Name)
	}
	d := instDecoder{scanner: scanner{buf: body}, spec: &spec, nf: len(spec.Features), max: lim.maxElements()}
	if err := d.body(); err != nil {
		return inference.Tensor{}, err
	}
	return inference.Tensor{
		Name:     spec.Name,
		Datatype: inference.FP64,
		Shape:    []int64{int64(d.rows), int64(d.nf)},
		F64:      d.data,
	}, nil
}

// instDecoder decodes one instances body.
type instDecoder struct {
	scanner
	spec  *inference.TensorSpec
	nf    int    // number of features
	max   int    // element limit
	key   string // "instances" or "inputs", as the caller wrote it
	rows  int
	data  []float64
	seen  []uint64       // features set in the current row, a bit each
	index map[string]int // feature by name, built for wide inputs
}

func (d *instDecoder) body() error {
	s := &d.scanner
	if err := s.topObject(`with an "instances" array`); err != nil {
		return err
	}
	var other keySet
	found := false
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		isInstances := string(key) == "instances"
		if !isInstances && string(key) != "inputs" {
			if other.add(s, key) {
				return duplicateKey(s.keyAt, "", key)
			}
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if found {
			if (d.key == "instances") == isInstances {
				return duplicateKey(s.keyAt, "", key)
			}
			return inference.Inputf("", `body has both "instances" and "inputs"; send the rows in one of them`)
		}
		found = true
		d.key = "inputs"
		if isInstances {
			d.key = "instances"
		}
		if err := d.instances(); err != nil {
			return err
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	if !found {
		return inference.Inputf("instances", `required field is missing: the body must be {"instances": [{"feature": value, ...}, ...]}`)
	}
	return nil
}

// instances reads the array of rows.
func (d *instDecoder) instances() error {
	s := &d.scanner
	switch c := s.peek(); {
	case c == '[':
	case c == '{' && d.key == "inputs":
		return inference.Inputf(d.key, `the columnar form {"inputs": {"feature": [values...]}} is not supported; send rows: {"instances": [{"feature": value, ...}, ...]}`)
	default:
		return s.typeError(d.key, "an array of instances")
	}
	if err := s.enter(); err != nil {
		return err
	}
	d.seen = make([]uint64, (d.nf+63)/64)
	d.data = make([]float64, 0, d.nf)
	for i := 0; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if (d.rows+1)*d.nf > d.max {
			return inference.Inputf(d.key, "has more than %d rows of %d features: a request may hold at most %d values", d.max/d.nf, d.nf, d.max)
		}
		start := s.pos
		switch {
		case c == '{':
			err = d.objectRow()
		case c == '[':
			err = d.arrayRow()
		case c == 0:
			return s.unexpected("a value")
		case d.nf == 1:
			d.data = append(d.data, 0)
			err = d.value(c, len(d.data)-1, 0, true, d.rowPath)
		default:
			return s.typeError(d.rowPath(), fmt.Sprintf("an object of features or an array of %d values", d.nf))
		}
		if err != nil {
			return err
		}
		d.rows++
		if d.rows == 1 {
			// Rows are usually alike: size the matrix from the first
			// one, within the limit and never beyond 8 bytes of matrix
			// per byte of body.
			est := ((len(s.buf)-s.pos)/max(s.pos-start, 1) + 1) * d.nf
			if grow := min(est, d.max, len(s.buf)) - len(d.data); grow > 0 {
				d.data = slices.Grow(d.data, grow)
			}
		}
	}
	if d.rows == 0 {
		return inference.Inputf(d.key, "at least one instance is required")
	}
	return nil
}

// rowPath is the path of the current row: instances[3].
func (d *instDecoder) rowPath() string {
	return fmt.Sprintf("%s[%d]", d.key, d.rows)
}

// objectRow reads a row given as {"feature": value, ...}.
func (d *instDecoder) objectRow() error {
	s := &d.scanner
	if err := s.enter(); err != nil {
		return err
	}
	base := len(d.data)
	d.data = slices.Grow(d.data, d.nf)[:base+d.nf]
	row := d.data[base:]
	for j := range row {
		row[j] = math.NaN()
	}
	clear(d.seen)
	next := 0 // keys usually come in feature order
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		j := d.lookup(key, next)
		if j < 0 {
			return d.unknown(key)
		}
		if d.seen[j/64]&(1<<(j%64)) != 0 {
			return duplicateKey(s.keyAt, d.rowPath(), key)
		}
		d.seen[j/64] |= 1 << (j % 64)
		next = j + 1
		if err := d.value(s.peek(), base+j, j, false, func() string { return d.rowPath() + "." + d.spec.Features[j].Name }); err != nil {
			return err
		}
	}
	if d.spec.AllowMissing {
		return nil
	}
	for j, f := range d.spec.Features {
		if d.seen[j/64]&(1<<(j%64)) == 0 {
			return inference.Inputf(d.rowPath(), "missing feature %q: the model does not accept missing values", f.Name)
		}
	}
	return nil
}

// arrayRow reads a row given as [v1, v2, ...], one value per feature.
func (d *instDecoder) arrayRow() error {
	s := &d.scanner
	if err := s.enter(); err != nil {
		return err
	}
	base := len(d.data)
	d.data = slices.Grow(d.data, d.nf)[:base+d.nf]
	for j := 0; ; j++ {
		c, ok, err := s.nextElem(j)
		if err != nil {
			return err
		}
		if !ok {
			if j != d.nf {
				return inference.Inputf(d.rowPath(), "has %s, want %d: one per feature (%s)", plural(j, "value"), d.nf, d.featureList())
			}
			return nil
		}
		if j == d.nf {
			for {
				if err := s.skip(); err != nil {
					return err
				}
				j++
				if _, ok, err := s.nextElem(j); err != nil {
					return err
				} else if !ok {
					break
				}
			}
			return inference.Inputf(d.rowPath(), "has %s, want %d: one per feature (%s)", plural(j, "value"), d.nf, d.featureList())
		}
		if err := d.value(c, base+j, j, true, func() string { return fmt.Sprintf("%s[%d]", d.rowPath(), j) }); err != nil {
			return err
		}
	}
}

// featureList names the features in order, shortened when there are many.
func (d *instDecoder) featureList() string {
	const show = 8
	var b strings.Builder
	for j, f := range d.spec.Features {
		if j == show {
			fmt.Fprintf(&b, ", ... %d more", d.nf-show)
			break
		}
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
	}
	return b.String()
}

// value reads the value of feature j, whose first byte is c, into
// d.data[at]. path names it in errors; positional tells that the path
// does not name the feature.
func (d *instDecoder) value(c byte, at, j int, positional bool, path func() string) error {
	s := &d.scanner
	switch c {
	case 't':
		d.data[at] = 1
		return s.literal("true")
	case 'f':
		d.data[at] = 0
		return s.literal("false")
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		if !d.spec.AllowMissing {
			return inference.Inputf(path(), "null (a missing value) is not accepted: the model does not accept missing values%s", d.forFeature(j, positional))
		}
		d.data[at] = math.NaN()
		return nil
	}
	if f, end, ok := s.readFloat(); ok {
		s.pos = end // a plain number; readNumber takes the rest
		d.data[at] = f
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		hint := ""
		if c == '"' && d.spec.Features[j].Type == "categorical" {
			hint = " (send categorical values as their numeric codes)"
		}
		got, err := s.describe()
		if err != nil {
			return err
		}
		return inference.Inputf(path(), "expected a number%s, got %s%s", d.forFeature(j, positional), got, hint)
	}
	n, err := s.readNumber()
	if err != nil {
		return err
	}
	f, ok := n.float64()
	if !ok {
		if f, err = strconv.ParseFloat(string(n.lit), 64); err != nil {
			return inference.Inputf(path(), "%s is out of range for a 64-bit float%s", truncate(n.lit), d.forFeature(j, positional))
		}
	}
	d.data[at] = f
	return nil
}

// forFeature names feature j for messages about positional values.
func (d *instDecoder) forFeature(j int, positional bool) string {
	if !positional {
		return ""
	}
	return fmt.Sprintf(" for feature %q", d.spec.Features[j].Name)
}

// lookup returns the index of the feature named key, trying guess first,
// or -1.
func (d *instDecoder) lookup(key []byte, guess int) int {
	fs := d.spec.Features
	if guess < len(fs) && fs[guess].Name == string(key) {
		return guess
	}
	if len(fs) <= 16 {
		for j := range fs {
			if fs[j].Name == string(key) {
				return j
			}
		}
		return -1
	}
	if d.index == nil {
		d.index = make(map[string]int, len(fs))
		for j, f := range fs {
			d.index[f.Name] = j
		}
	}
	if j, ok := d.index[string(key)]; ok {
		return j
	}
	return -1
}

// unknown reports a key that names no feature, suggesting the closest one.
func (d *instDecoder) unknown(key []byte) error {
	k := string(key)
	msg := fmt.Sprintf("unknown feature %q", k)
	switch best := closest(k, d.spec.Features); {
	case k == "name" || k == "datatype" || k == "shape" || k == "data":
		msg += ": this looks like an Open Inference Protocol tensor; POST it to /v2/models/{model}/infer"
	case best != "":
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return inference.Inputf(d.rowPath(), "%s", msg)
}

// closest returns the feature name nearest to k by edit distance, when it
// is near enough to be a plausible typo, or "".
func closest(k string, fs []inference.Feature) string {
	best, bestDist := "", 0
	for _, f := range fs {
		if strings.EqualFold(f.Name, k) {
			return f.Name
		}
		dist := editDistance(k, f.Name, 3)
		if dist <= 2 && dist < len(f.Name) && (best == "" || dist < bestDist) {
			best, bestDist = f.Name, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b in bytes, or
// any value above limit when it exceeds limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit || len(a) > 256 || len(b) > 256 {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
