// Package linear serves linear and logistic regression models stored in
// Sluice's small JSON format, sluice.linear/v1 (docs/formats/linear.md).
//
// Linear models need no runtime library: a row's score is an intercept
// plus a dot product. What they do need is an unambiguous file, so the
// format spells out the task and the link function instead of leaving them
// to be guessed from array shapes, names every feature, and is decoded
// strictly: unknown or repeated fields, missing fields, wrong types and
// inconsistent shapes are refused with the JSON path of the problem
// (e.g. "coefficients[1]: has 3 values, want 4 (one per feature)").
//
// Supported: regression (identity link), binary classification (logit
// link, probabilities for both classes as scikit-learn's predict_proba), and
// multiclass classification with a multinomial softmax or one-vs-rest
// sigmoids normalised to sum to one (scikit-learn's multi_class="ovr").
// Not supported: missing values (a NaN or infinite input is an
// *inference.InputError naming the feature, since a linear model has no
// default branch), other links (log, probit), sparse or categorical
// features (one-hot encode them into separate features), preprocessing
// steps (fold a scaler into the coefficients), and multi-output regression.
package linear
