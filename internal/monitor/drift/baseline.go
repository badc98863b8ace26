package drift

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Kind says how a feature's values are compared.
type Kind string

const (
	// Numeric features are binned on the baseline's quantiles and compared
	// with PSI, Kolmogorov-Smirnov and Jensen-Shannon.
	Numeric Kind = "numeric"
	// Categorical features are counted per label and compared with
	// chi-square, PSI and Jensen-Shannon.
	Categorical Kind = "categorical"
)

// Column is one feature's values over a sample.
type Column struct {
	// Name of the feature; unique within a sample.
	Name string
	// Kind of the feature.
	Kind Kind
	// Num holds the values of a numeric feature, NaN or ±Inf where missing.
	// For a categorical feature without Cat it holds category codes, whose
	// labels are their shortest decimal form (3 is "3"), NaN where missing.
	Num []float64
	// Cat holds the labels of a categorical feature, "" where missing.
	Cat []string
}

// Len returns the number of values in the column.
func (c *Column) Len() int {
	if c.Kind == Categorical && c.Cat != nil {
		return len(c.Cat)
	}
	return len(c.Num)
}

// label returns the i-th value of a categorical column, "" when missing.
func (c *Column) label(i int) string {
	if c.Cat != nil {
		return c.Cat[i]
	}
	return codeLabel(c.Num[i])
}

// codeLabel is the label of a numeric category code: its shortest decimal
// form, "" for NaN.
func codeLabel(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// missingNum reports whether a numeric value counts as missing.
func missingNum(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// Sample is a column-oriented table: the training data behind a baseline,
// or the current data of an offline comparison.
type Sample struct {
	// Columns are the features, all of the same length.
	Columns []Column
	// Prediction holds the model's output for the same rows (numeric for
	// scores and regression, categorical for class labels), or is nil.
	Prediction *Column
}

// BaselineOptions tunes how a baseline summarises its sample.
type BaselineOptions struct {
	// GridBins is the number of equal-mass bins each numeric feature keeps
	// for the live Kolmogorov-Smirnov statistic, whose error is at most
	// about 1/GridBins. It must be a multiple of 10, so that the deciles
	// (the PSI bins) are among the grid's edges. 0 means 100.
	GridBins int `json:"grid_bins,omitempty"`
	// TopK is how many of its most frequent labels a categorical feature
	// keeps; the rest are counted together as "other". 0 means 50.
	TopK int `json:"top_k,omitempty"`
}

const (
	defaultGridBins = 100
	defaultTopK     = 50
)

func (o BaselineOptions) withDefaults() BaselineOptions {
	if o.GridBins == 0 {
		o.GridBins = defaultGridBins
	}
	if o.TopK == 0 {
		o.TopK = defaultTopK
	}
	return o
}

// Validate returns every problem with the options.
func (o BaselineOptions) Validate() error {
	var errs []error
	if o.GridBins < 0 || o.GridBins%10 != 0 || o.GridBins > 10000 {
		errs = append(errs, fmt.Errorf("grid_bins: %d: must be a multiple of 10 in 10..10000 (0 for the default %d)", o.GridBins, defaultGridBins))
	}
	if o.TopK < 0 || o.TopK > 100000 {
		errs = append(errs, fmt.Errorf("top_k: %d: must be in 1..100000 (0 for the default %d)", o.TopK, defaultTopK))
	}
	return errors.Join(errs...)
}

// BaselineVersion is the version of the Baseline JSON format this package
// writes and reads.
const BaselineVersion = 1

// Baseline summarises the training data of a model version: enough to
// compare live traffic with it in bounded memory, small enough to store next
// to the version as JSON.
type Baseline struct {
	// Version is the format version, BaselineVersion.
	Version int `json:"version"`
	// Rows is the number of rows summarised.
	Rows int64 `json:"rows"`
	// Features are the input features, in the order of the sample's columns
	// (and of a Window's Row values).
	Features []Dist `json:"features"`
	// Prediction is the distribution of the model's output, if known.
	Prediction *Dist `json:"prediction,omitempty"`
}

// Dist is the baseline distribution of one feature or of the prediction.
type Dist struct {
	// Name of the feature.
	Name string `json:"name"`
	// Kind of the feature.
	Kind Kind `json:"kind"`
	// Count is the number of values present; Count+Missing is the
	// baseline's Rows.
	Count int64 `json:"count"`
	// Missing is the number of missing values.
	Missing int64 `json:"missing"`
	// Numeric is set for numeric features.
	Numeric *NumericDist `json:"numeric,omitempty"`
	// Categorical is set for categorical features.
	Categorical *CategoricalDist `json:"categorical,omitempty"`
}

// NumericDist holds a numeric feature's quantiles and binned counts. Bin i
// holds the values v with Edges[i-1] < v <= Edges[i] (closed on the right,
// like an empirical CDF), the first bin everything up to Edges[0] and the
// last everything above the last edge.
type NumericDist struct {
	// Min is the smallest value present (0 when none is).
	Min float64 `json:"min"`
	// Max is the largest value present (0 when none is).
	Max float64 `json:"max"`
	// Deciles are the 10th..90th percentiles, NumPy's default (linear)
	// quantile definition. Without repeats they are the PSI bin edges.
	Deciles []float64 `json:"deciles"`
	// Edges are the distinct quantiles at 1/GridBins, 2/GridBins, ... of
	// the values, ascending; the deciles are among them.
	Edges []float64 `json:"edges"`
	// Counts are the baseline's values per grid bin, len(Edges)+1 of them.
	Counts []int64 `json:"counts"`
}

// CategoricalDist holds a categorical feature's most frequent labels.
type CategoricalDist struct {
	// Categories are the most frequent labels, most frequent first (ties
	// by label).
	Categories []Category `json:"categories"`
	// Other counts the values whose label is not among Categories.
	Other int64 `json:"other"`
}

// Category is one label and how often the baseline saw it.
type Category struct {
	// Label of the category.
	Label string `json:"label"`
	// Count of values with that label.
	Count int64 `json:"count"`
}

// BuildBaseline summarises a sample. Every column must have the same
// length, a unique non-empty name and a known kind.
func BuildBaseline(s Sample, opts BaselineOptions) (*Baseline, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("building baseline: %w", err)
	}
	opts = opts.withDefaults()
	rows, err := s.validate()
	if err != nil {
		return nil, fmt.Errorf("building baseline: %w", err)
	}
	b := &Baseline{Version: BaselineVersion, Rows: int64(rows)}
	for i := range s.Columns {
		b.Features = append(b.Features, buildDist(&s.Columns[i], opts))
	}
	if s.Prediction != nil {
		d := buildDist(s.Prediction, opts)
		b.Prediction = &d
	}
	return b, nil
}

// validate returns the common length of the columns and every problem.
func (s *Sample) validate() (int, error) {
	var errs []error
	rows := -1
	seen := map[string]bool{}
	check := func(path string, c *Column) {
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", path))
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q: duplicate", path, c.Name))
		}
		seen[c.Name] = true
		switch c.Kind {
		case Numeric:
			if c.Cat != nil {
				errs = append(errs, fmt.Errorf("%s: numeric feature %q has labels (Cat)", path, c.Name))
			}
		case Categorical:
		default:
			errs = append(errs, fmt.Errorf("%s.kind: %q: must be %q or %q", path, c.Kind, Numeric, Categorical))
		}
		if rows < 0 {
			rows = c.Len()
		} else if c.Len() != rows {
			errs = append(errs, fmt.Errorf("%s: feature %q has %d values, want %d like the first column", path, c.Name, c.Len(), rows))
		}
	}
	if len(s.Columns) == 0 && s.Prediction == nil {
		errs = append(errs, errors.New("columns: at least one column is needed"))
	}
	for i := range s.Columns {
		check(fmt.Sprintf("columns[%d]", i), &s.Columns[i])
	}
	if s.Prediction != nil {
		check("prediction", s.Prediction)
	}
	return max(rows, 0), errors.Join(errs...)
}

func buildDist(c *Column, opts BaselineOptions) Dist {
	d := Dist{Name: c.Name, Kind: c.Kind}
	if c.Kind == Numeric {
		vals := presentValues(c.Num)
		d.Count = int64(len(vals))
		d.Missing = int64(len(c.Num) - len(vals))
		d.Numeric = buildNumeric(vals, opts.GridBins)
		return d
	}
	counts := map[string]int64{}
	for i := range c.Len() {
		l := c.label(i)
		if l == "" {
			d.Missing++
			continue
		}
		counts[l]++
		d.Count++
	}
	cats := make([]Category, 0, len(counts))
	for l, n := range counts {
		cats = append(cats, Category{Label: l, Count: n})
	}
	slices.SortFunc(cats, func(a, b Category) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Label, b.Label)
	})
	cd := &CategoricalDist{Categories: cats}
	if len(cats) > opts.TopK {
		cd.Categories = cats[:opts.TopK:opts.TopK]
		for _, c := range cats[opts.TopK:] {
			cd.Other += c.Count
		}
	}
	d.Categorical = cd
	return d
}

// presentValues returns the values that are not missing, sorted.
func presentValues(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, v := range xs {
		if !missingNum(v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// buildNumeric summarises sorted values on a grid of the given size.
func buildNumeric(sorted []float64, grid int) *NumericDist {
	nd := &NumericDist{Deciles: []float64{}, Edges: []float64{}}
	if len(sorted) == 0 {
		nd.Counts = []int64{0}
		return nd
	}
	nd.Min, nd.Max = sorted[0], sorted[len(sorted)-1]
	for i := 1; i < grid; i++ {
		q := quantileSorted(sorted, float64(i)/float64(grid))
		if len(nd.Edges) > 0 {
			// Guard against a rounding dip so the deciles stay edges.
			q = math.Max(q, nd.Edges[len(nd.Edges)-1])
		}
		if i%(grid/10) == 0 {
			nd.Deciles = append(nd.Deciles, q)
		}
		if len(nd.Edges) == 0 || q > nd.Edges[len(nd.Edges)-1] {
			nd.Edges = append(nd.Edges, q)
		}
	}
	nd.Counts = make([]int64, len(nd.Edges)+1)
	for _, v := range sorted {
		nd.Counts[binOf(nd.Edges, v)]++
	}
	return nd
}

// quantileSorted is numpy.quantile(x, q) with the default 'linear' method
// on sorted x, including NumPy's two-sided interpolation.
func quantileSorted(x []float64, q float64) float64 {
	n := len(x)
	vi := float64(n-1) * q
	lo := math.Floor(vi)
	i := int(lo)
	if i >= n-1 {
		return x[n-1]
	}
	if i < 0 {
		return x[0]
	}
	a, b := x[i], x[i+1]
	t := vi - lo
	diff := b - a
	if t >= 0.5 {
		return b - diff*(1-t)
	}
	return a + diff*t
}

// binOf returns the bin of v on ascending edges: the first i with
// v <= edges[i], or len(edges). v must not be NaN.
func binOf(edges []float64, v float64) int {
	lo, hi := 0, len(edges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if edges[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// psiEdges returns the distinct deciles, the PSI bin edges.
func (nd *NumericDist) psiEdges() []float64 {
	return slices.Compact(slices.Clone(nd.Deciles))
}

// ParseBaseline decodes a baseline's JSON, rejecting unknown fields, and
// validates it.
func ParseBaseline(data []byte) (*Baseline, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Baseline
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("decoding baseline: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding baseline: data after the JSON object")
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("invalid baseline: %w", err)
	}
	return &b, nil
}

// Validate returns every problem with a baseline, each with its field path.
func (b *Baseline) Validate() error {
	var errs []error
	if b.Version != BaselineVersion {
		errs = append(errs, fmt.Errorf("version: %d: this build reads version %d", b.Version, BaselineVersion))
	}
	if b.Rows < 0 {
		errs = append(errs, fmt.Errorf("rows: %d: must be >= 0", b.Rows))
	}
	if len(b.Features) == 0 && b.Prediction == nil {
		errs = append(errs, errors.New("features: at least one feature is needed"))
	}
	seen := map[string]bool{}
	for i := range b.Features {
		path := fmt.Sprintf("features[%d]", i)
		if seen[b.Features[i].Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q: duplicate", path, b.Features[i].Name))
		}
		seen[b.Features[i].Name] = true
		errs = append(errs, b.Features[i].validate(path, b.Rows)...)
	}
	if b.Prediction != nil {
		errs = append(errs, b.Prediction.validate("prediction", b.Rows)...)
	}
	return errors.Join(errs...)
}

func (d *Dist) validate(path string, rows int64) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(path+format, args...))
	}
	if d.Name == "" {
		add(".name: must not be empty")
	}
	if d.Count < 0 || d.Missing < 0 || d.Count+d.Missing != rows {
		add(": count %d + missing %d: must be non-negative and add up to rows %d", d.Count, d.Missing, rows)
	}
	switch d.Kind {
	case Numeric:
		if d.Categorical != nil {
			add(".categorical: must be absent for a numeric feature")
		}
		if d.Numeric == nil {
			add(".numeric: required for a numeric feature")
			break
		}
		for _, e := range d.Numeric.validate(d.Count) {
			add(".numeric.%s", e)
		}
	case Categorical:
		if d.Numeric != nil {
			add(".numeric: must be absent for a categorical feature")
		}
		if d.Categorical == nil {
			add(".categorical: required for a categorical feature")
			break
		}
		for _, e := range d.Categorical.validate(d.Count) {
			add(".categorical.%s", e)
		}
	default:
		add(".kind: %q: must be %q or %q", d.Kind, Numeric, Categorical)
	}
	return errs
}

func (nd *NumericDist) validate(count int64) []string {
	var errs []string
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for i, e := range nd.Edges {
		if !finite(e) || (i > 0 && e <= nd.Edges[i-1]) {
			errs = append(errs, fmt.Sprintf("edges[%d]: %v: must be finite and strictly increasing", i, e))
		}
	}
	if count > 0 && len(nd.Deciles) != 9 {
		errs = append(errs, fmt.Sprintf("deciles: %d values, want 9", len(nd.Deciles)))
	}
	for i, q := range nd.Deciles {
		if !finite(q) || (i > 0 && q < nd.Deciles[i-1]) {
			errs = append(errs, fmt.Sprintf("deciles[%d]: %v: must be finite and non-decreasing", i, q))
		} else if _, ok := slices.BinarySearch(nd.Edges, q); !ok {
			errs = append(errs, fmt.Sprintf("deciles[%d]: %v: must be one of the edges", i, q))
		}
	}
	if len(nd.Counts) != len(nd.Edges)+1 {
		errs = append(errs, fmt.Sprintf("counts: %d values, want len(edges)+1 = %d", len(nd.Counts), len(nd.Edges)+1))
	}
	var total int64
	for i, c := range nd.Counts {
		if c < 0 {
			errs = append(errs, fmt.Sprintf("counts[%d]: %d: must be >= 0", i, c))
		}
		total += c
	}
	if total != count {
		errs = append(errs, fmt.Sprintf("counts: add up to %d, want the feature's count %d", total, count))
	}
	if !finite(nd.Min) || !finite(nd.Max) || nd.Min > nd.Max {
		errs = append(errs, fmt.Sprintf("min, max: %v, %v: must be finite with min <= max", nd.Min, nd.Max))
	}
	return errs
}

func (cd *CategoricalDist) validate(count int64) []string {
	var errs []string
	seen := map[string]bool{}
	total := cd.Other
	if cd.Other < 0 {
		errs = append(errs, fmt.Sprintf("other: %d: must be >= 0", cd.Other))
	}
	for i, c := range cd.Categories {
		switch {
		case c.Label == "":
			errs = append(errs, fmt.Sprintf("categories[%d].label: must not be empty", i))
		case seen[c.Label]:
			errs = append(errs, fmt.Sprintf("categories[%d].label: %q: duplicate", i, c.Label))
		}
		seen[c.Label] = true
		if c.Count < 0 {
			errs = append(errs, fmt.Sprintf("categories[%d].count: %d: must be >= 0", i, c.Count))
		}
		total += c.Count
	}
	if total != count {
		errs = append(errs, fmt.Sprintf("categories: counts and other add up to %d, want the feature's count %d", total, count))
	}
	return errs
}
