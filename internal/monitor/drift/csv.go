package drift

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// CSVOptions says how ReadCSV turns a CSV file into a Sample.
type CSVOptions struct {
	// Columns, when not empty, are the columns to keep, in this order; each
	// must be in the header. Empty keeps every column but Prediction and
	// Ignore.
	Columns []string
	// Ignore are columns to leave out (labels, ids).
	Ignore []string
	// Categorical are columns to treat as categorical even when every
	// value is a number (codes). A column with a value that is not a
	// number is categorical anyway.
	Categorical []string
	// Prediction, when not empty, names the column holding the model's
	// output; it becomes the sample's Prediction.
	Prediction string
	// MaxRows bounds the rows read; 0 means 10,000,000.
	MaxRows int
}

// missingCell reports whether a CSV cell counts as missing.
func missingCell(s string) bool {
	switch strings.ToLower(s) {
	case "", "na", "nan", "null", "none":
		return true
	}
	return false
}

// ReadCSV reads a CSV file with a header row into a column-oriented Sample.
// A column is numeric when every present value parses as a number, else
// categorical; empty, "NA", "NaN", "null" and "None" cells are missing.
// Errors name the line and the column.
func ReadCSV(r io.Reader, opts CSVOptions) (Sample, error) {
	if opts.MaxRows <= 0 {
		opts.MaxRows = 10_000_000
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Sample{}, errors.New("csv: empty file, want a header row")
	}
	if err != nil {
		return Sample{}, fmt.Errorf("csv: reading the header: %w", err)
	}
	head = slices.Clone(head)
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
		if head[i] == "" {
			return Sample{}, fmt.Errorf("csv: header column %d: empty name", i+1)
		}
		if slices.Index(head[:i], head[i]) >= 0 {
			return Sample{}, fmt.Errorf("csv: header column %d: duplicate name %q", i+1, head[i])
		}
	}
	index := func(name, what string) (int, error) {
		i := slices.Index(head, name)
		if i < 0 {
			return 0, fmt.Errorf("csv: %s column %q is not in the header", what, name)
		}
		return i, nil
	}
	var cols []int
	if len(opts.Columns) > 0 {
		for _, c := range opts.Columns {
			i, err := index(c, "feature")
			if err != nil {
				return Sample{}, err
			}
			cols = append(cols, i)
		}
	} else {
		for i, h := range head {
			if h != opts.Prediction && !slices.Contains(opts.Ignore, h) {
				cols = append(cols, i)
			}
		}
	}
	pred := -1
	if opts.Prediction != "" {
		if pred, err = index(opts.Prediction, "prediction"); err != nil {
			return Sample{}, err
		}
	}
	for _, c := range opts.Categorical {
		if _, err := index(c, "categorical"); err != nil {
			return Sample{}, err
		}
	}
	// Read every kept column as text first: a column's kind is known only
	// once all its values are seen.
	keep := slices.Clone(cols)
	if pred >= 0 {
		keep = append(keep, pred)
	}
	raw := make([][]string, len(keep))
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Sample{}, fmt.Errorf("csv: %w", err)
		}
		if line-1 > opts.MaxRows {
			return Sample{}, fmt.Errorf("csv: more than %d rows", opts.MaxRows)
		}
		for j, c := range keep {
			raw[j] = append(raw[j], strings.TrimSpace(rec[c]))
		}
	}
	if len(keep) > 0 && len(raw[0]) == 0 {
		return Sample{}, errors.New("csv: no data rows after the header")
	}
	column := func(j int) Column {
		name := head[keep[j]]
		vals := raw[j]
		c := Column{Name: name, Kind: Numeric}
		if slices.Contains(opts.Categorical, name) {
			c.Kind = Categorical
		}
		num := make([]float64, len(vals))
		numeric := true
		for i, s := range vals {
			if missingCell(s) {
				num[i] = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				numeric = false
				break
			}
			num[i] = v
		}
		if numeric {
			c.Num = num // values, or codes of a categorical column
			return c
		}
		c.Kind = Categorical
		c.Cat = make([]string, len(vals))
		for i, s := range vals {
			if !missingCell(s) {
				c.Cat[i] = s
			}
		}
		return c
	}
	var s Sample
	for j := range cols {
		s.Columns = append(s.Columns, column(j))
	}
	if pred >= 0 {
		p := column(len(keep) - 1)
		s.Prediction = &p
	}
	return s, nil
}

// OfflineFeature is one feature of an offline comparison in the short form
// `sluice drift --baseline --current -o json` prints: the statistics that
// apply to the feature's kind and nothing else.
type OfflineFeature struct {
	Feature     string   `json:"feature"`
	PSI         *float64 `json:"psi"`
	KSStatistic *float64 `json:"ks_statistic,omitempty"`
	KSPValue    *float64 `json:"ks_pvalue,omitempty"`
	Chi2        *float64 `json:"chi2,omitempty"`
	Chi2PValue  *float64 `json:"chi2_pvalue,omitempty"`
	JS          *float64 `json:"js"`
}

// Offline returns the report's features in the short offline form, worst
// first (the report's order).
func (r *Report) Offline() []OfflineFeature {
	out := make([]OfflineFeature, 0, len(r.Features))
	for _, f := range r.Features {
		o := OfflineFeature{Feature: f.Feature, PSI: f.PSI, JS: f.JS}
		if f.Kind == Numeric {
			o.KSStatistic, o.KSPValue = f.KSStatistic, f.KSPValue
		} else {
			o.Chi2, o.Chi2PValue = f.Chi2, f.Chi2PValue
		}
		out = append(out, o)
	}
	return out
}
