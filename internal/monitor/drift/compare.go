package drift

import (
	"errors"
	"fmt"
)

// Options tunes an offline comparison.
type Options struct {
	// Baseline says how the baseline sample is summarised into bins.
	Baseline BaselineOptions
	// Thresholds decide which features are flagged.
	Thresholds Thresholds
}

// Compare compares two full samples, the offline mode: the baseline is
// summarised with BuildBaseline, the current sample is counted on the same
// bins for PSI, Jensen-Shannon and chi-square, and the Kolmogorov-Smirnov
// test runs on the raw values of both (KS2Samp), so it is exact. Missing
// values (NaN, ±Inf, "") are left out of every statistic and reported as
// missing rates. Features are matched by name and must have the same kind;
// the current sample may have extra columns, which are ignored. The
// prediction is compared when both samples have one.
func Compare(baseline, current Sample, opts Options) (*Report, error) {
	b, err := BuildBaseline(baseline, opts.Baseline)
	if err != nil {
		return nil, err
	}
	rows, err := current.validate()
	if err != nil {
		return nil, fmt.Errorf("current sample: %w", err)
	}
	byName := map[string]*Column{}
	for i := range current.Columns {
		byName[current.Columns[i].Name] = &current.Columns[i]
	}
	var errs []error
	for _, d := range b.Features {
		c, ok := byName[d.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("current sample: feature %q is missing", d.Name))
		case c.Kind != d.Kind:
			errs = append(errs, fmt.Errorf("current sample: feature %q is %s, the baseline's is %s", d.Name, c.Kind, d.Kind))
		}
	}
	if b.Prediction != nil && current.Prediction != nil && current.Prediction.Kind != b.Prediction.Kind {
		errs = append(errs, fmt.Errorf("current sample: prediction is %s, the baseline's is %s", current.Prediction.Kind, b.Prediction.Kind))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	th := opts.Thresholds.withDefaults()
	r := &Report{Rows: int64(rows), BaselineRows: b.Rows, Exact: true}
	for i := range b.Features {
		fr := compareColumn(&b.Features[i], &baseline.Columns[i], byName[b.Features[i].Name], b.Rows, th)
		r.Features = append(r.Features, fr)
	}
	if b.Prediction != nil && current.Prediction != nil {
		fr := compareColumn(b.Prediction, baseline.Prediction, current.Prediction, b.Rows, th)
		r.Prediction = &fr
	}
	r.finish()
	return r, nil
}

// compareColumn counts the current column on the baseline's bins and, for a
// numeric feature, runs the exact KS test on both columns' values.
func compareColumn(d *Dist, base, cur *Column, baseRows int64, th Thresholds) FeatureReport {
	bn := newBinner(d)
	counts := make([]int64, bn.nbins+1)
	var exact *KSResult
	if d.Kind == Numeric {
		for _, v := range cur.Num {
			counts[bn.numBin(v)]++
		}
		x, y := presentValues(base.Num), presentValues(cur.Num)
		if len(x) > 0 && len(y) > 0 {
			r := ksTest(ksStatisticSorted(x, y), len(x), len(y), 0)
			exact = &r
		}
	} else {
		for i := range cur.Len() {
			counts[bn.labelBin(cur.label(i))]++
		}
	}
	return bn.report(counts, exact, baseRows, th)
}
