// Package xgboost is a pure-Go runtime for XGBoost models saved with
// Booster.save_model as JSON or UBJSON (XGBoost 1.0 to 3.x).
//
// It exists so that the most common tabular model format needs neither cgo
// nor a Python sidecar, and so that Sluice can score it faster than
// XGBoost's own in-process predictor does.
//
// Predictions match XGBoost's to float32 rounding because the runtime
// copies XGBoost's arithmetic, not just its algorithm: features are
// converted to float32 and compared as x < threshold; NaN follows each
// split's default branch; each row's margin starts from base_score passed
// through the objective's link (logit, log or identity) and adds the leaves
// in tree order in float32; dart scales each leaf by its weight_drop in
// float32; the objective's transform (sigmoid, exp, softmax, ...) comes
// last.
//
// Load validates the whole structure (child indices, cycles, feature
// indices, categorical sets, array lengths) and compiles each tree into a
// flat, breadth-first node array with siblings adjacent, so Predict cannot
// panic or loop on any artifact that loaded. Decoding is streamed from a
// small hand-written JSON or UBJSON scanner (source.go) straight into the
// fields the runtime needs: XGBoost writes NaN as a bare token, which
// encoding/json rejects, and numbers must round directly to float32.
package xgboost
