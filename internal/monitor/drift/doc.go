// Package drift measures how far the data a model version sees has moved
// from the data it was trained on. It is pure statistics: no I/O, no clocks
// of its own, no goroutines.
//
// A Baseline, built once from the training sample and stored with the
// version as JSON, keeps for each numeric feature its deciles and a finer
// grid of equal-mass bins with the training counts in each, and for each
// categorical feature its most frequent labels. Everything else is compared
// on those bins:
//
//   - Compare is the offline mode, two full samples at hand. Its
//     Kolmogorov-Smirnov statistic and p-value are exact and equal to
//     scipy.stats.ks_2samp's; its chi-square is scipy.stats.chisquare's.
//   - A Window is the live mode: rows of one endpoint and version are
//     counted on the baseline's bins in a few rotating slots, so memory
//     does not grow with traffic and observing a row costs a binary search
//     per feature. PSI, Jensen-Shannon and chi-square need nothing but bin
//     counts, so they equal the offline values for the same rows; the KS
//     statistic is bracketed by the grid (see FeatureReport.KSStatisticMax).
//
// Why fixed bins and not a mergeable quantile sketch: the baseline's grid is
// already equal-mass for the training data, which is what the KS error
// depends on, the bound it gives is exact and checkable per report, and
// counting into fixed bins is cheaper than any sketch on the request path.
//
// docs/drift.md describes the statistics, the bins, the epsilon for empty
// bins, the default thresholds and how to read a report.
package drift
