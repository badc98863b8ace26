// Package inference defines the contract every model runtime satisfies and
// the registry of model formats.
//
// A runtime turns the bytes of a stored artifact into a Model: something that
// knows its Signature and turns input tensors into output tensors. Built-in
// runtimes live in one subpackage per format (xgboost, lightgbm, linear);
// others (ONNX Runtime, remote model servers) plug in through the same Format
// interface. The gateway only ever sees Model, so traffic strategies and
// monitoring work the same for every format.
//
// Tensors follow the Open Inference Protocol v2: a name, a datatype, a shape
// and a flat row-major data slice. Tabular runtimes read their single input
// as a [rows, features] matrix through Dense32 or Dense64.
package inference
