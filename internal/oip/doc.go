// Package oip is the JSON wire codec of the data plane: the REST form of
// the Open Inference Protocol v2 (POST /v2/models/{m}/infer) and Sluice's
// plain {"instances": [...]} form.
//
// # Why a hand-written decoder
//
// Decoding is on every request's path, and the gateway aims to add less
// latency than nginx. Generic encoding/json decoding boxes every tensor
// element in an interface{} and allocates per number. The decoders here
// scan the exact wire shape once and write numbers straight into the
// tensor's typed slice; BenchmarkDecodeInferRequest compares them with the
// encoding/json decoder kept in the tests as the reference. That reference
// is the specification in executable form: the fuzz tests check that both
// accept exactly the same bodies and produce the same tensors.
//
// # What is accepted
//
// Bodies must be valid JSON (RFC 8259) in UTF-8, nested at most 10,000
// deep like encoding/json. Unlike encoding/json, and like encoding/json/v2,
// an object may not repeat a key: a gateway that reads a body one way while
// a backend reads it another is a security hole. Escaped lone surrogates
// become U+FFFD, as in encoding/json.
//
// Unknown members are ignored everywhere, at the top level and inside
// input and output objects, as Triton and KServe do: Triton looks up only
// the members it knows and KServe's pydantic models ignore extras, and the
// protocol grows by extensions. null for an optional member (id,
// parameters, outputs) is the same as leaving it out; for a required one
// (inputs, name, shape, datatype, data) it is reported as missing.
//
// Each input needs a non-empty name, unique in the request, a datatype
// named exactly as in the protocol, a shape of integers 0 or more (-1 is
// metadata only; at most 64 dimensions) and data. "data" is either flat,
// in row-major order, or nested exactly as the shape: nesting depth equal
// to the number of dimensions and every array as long as its dimension.
// Partial nesting is rejected rather than guessed at. Elements must fit the
// datatype: BOOL takes true and false only; integer types take integer
// literals (1.0 and 1e3 are not integers) within the type's range, so 300
// is an error in UINT8; FP16, FP32 and FP64 take any number within range
// (FP16 up to ±65504), and null, which stands for NaN; BYTES takes strings,
// stored as their UTF-8 bytes. Limits.MaxElements bounds the total number
// of elements, checked against the shapes before any data is read.
//
// "parameters" objects of inputs and outputs are kept as map[string]any,
// numbers as int64 when written as an integer that fits and float64
// otherwise. The request's own are checked as strictly but kept as JSON
// (Params), decoded the same way member by member when read. Parameters asking for protocol extensions that
// move tensor data out of the JSON body are rejected with an explanation:
// binary_data_size (binary tensor data) and shared_memory_region. An
// output's "binary_data": true is a wish, not a requirement: the output
// is returned as JSON, which Triton's clients read as well.
//
// The plain form, {"instances": [...]}, is for tabular models: each row is
// an object of named features (or an array of values in feature order) and
// becomes one row of a [rows, features] FP64 tensor; see DecodeInstances.
//
// Every decoding error is an *inference.InputError whose Field is the JSON
// path at fault ("inputs[1].shape", "inputs[0].data[17]",
// "instances[2].mean_radius") and whose message says what was expected and
// what was found. Errors in the JSON syntax itself name the byte offset.
//
// # What is written
//
// Responses carry flat data. JSON has no NaN or infinity, so NaN, +Inf and
// -Inf are written as null, as many servers do; the decoder reads null in
// floating-point data back as NaN. Floats are written with the fewest
// digits that read back as the same value: FP32 and FP16 as 32-bit floats,
// FP64 as 64-bit ones, in encoding/json's notation. BYTES are written as
// strings, with invalid UTF-8 replaced by U+FFFD.
package oip
