// Package lightgbm is a pure-Go runtime for LightGBM text models (the
// model.txt written by Booster.save_model and the lightgbm CLI).
//
// Sluice serves LightGBM models without cgo so that one static binary runs
// on any host, and so that loading an artifact can never crash the server:
// the loader validates the whole structure up front (indices in range,
// every tree a proper tree reachable from its root, array lengths matching
// num_leaves) and Predict is then a tight loop that cannot panic or loop.
//
// # What is supported
//
// Text model format versions v2, v3 and v4, as written by LightGBM 2.x to
// 4.x: numerical splits with the three missing-value types (None, Zero,
// NaN) and the default-left bit, categorical splits with multi-word
// bitsets, single-leaf trees, linear trees (is_linear=1, LightGBM >= 3.1),
// random-forest models (average_output), DART models (stored like GBDT),
// and the output transforms of every built-in objective:
//
//	binary sigmoid:S                sigmoid(S*x)
//	multiclass num_class:K          softmax over K scores
//	multiclassova num_class:K ...   sigmoid(S*x) per class
//	cross_entropy (xentropy)        sigmoid(x)
//	cross_entropy_lambda            log(1+exp(x))
//	poisson, gamma, tweedie         exp(x)
//	regression, regression_l1,      x, or sign(x)*x*x with the "sqrt" flag
//	quantile, fair, mape
//	huber, lambdarank, rank_xendcg, x
//	custom (or no objective line)
//
// Decisions follow LightGBM's Tree::NumericalDecision and
// Tree::CategoricalDecision exactly, in float64: a NaN input on a split whose
// missing type is not NaN is treated as 0; on a Zero-missing split any value
// with |x| <= kZeroThreshold (float32(1e-35)) takes the default branch; a
// categorical value is truncated to an int, and NaN, negative values and
// categories outside the bitset go right. Scores are summed tree by tree in
// LightGBM's order, divided by the number of iterations when average_output
// is set, and then converted by the objective, as current LightGBM does
// (some 2.x releases skipped the conversion for random forests).
//
// The feature importances and parameters sections after "end of trees" are
// ignored. The runtime does not support LightGBM's binary model format, the
// JSON dump (dump_model), prediction early stopping, leaf-index or SHAP
// outputs, or custom objectives' transforms (their raw scores are returned).
//
// # Options
//
// LoadOptions.Params accepts one key, "raw_score" ("true" or "false"): when
// true, Predict returns the summed (and, for random forests, averaged) raw
// scores without the objective's transform, like predict(raw_score=True).
// LoadOptions.Signature may rename the input and output and the features,
// but must keep the model's feature count.
package lightgbm
