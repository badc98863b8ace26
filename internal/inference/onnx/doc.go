// Package onnx serves ONNX models on ONNX Runtime, Microsoft's C++ runtime,
// through its C API (github.com/yalue/onnxruntime_go, cgo).
//
// ONNX is what PyTorch (torch.onnx.export), TensorFlow (tf2onnx) and
// scikit-learn (skl2onnx) export to, and no pure-Go runtime covers enough
// operators, so this is the one Sluice format that needs cgo and a shared
// library. cgo stays optional: files that import onnxruntime_go build only
// with cgo; a CGO_ENABLED=0 build has the same Format, whose Load returns
// ErrUnavailable. The library (libonnxruntime.so.1.24.1) is loaded at run
// time with dlopen, from Options.LibraryPath, $SLUICE_ONNXRUNTIME_LIB or a
// few default places, once per process; a failed load is retried by the
// next Load. Without a library, Load returns ErrUnavailable saying how to
// install one (scripts/onnxruntime.sh).
//
// # Models
//
// Load hands the artifact's bytes to ONNX Runtime, which parses and
// optimises the graph; a model it refuses (corrupt, truncated, an operator
// or opset it does not implement) gives an error wrapping
// inference.ErrInvalidModel with ONNX Runtime's message. The signature comes
// from the model's inputs and outputs: ONNX element types map to Open
// Inference Protocol datatypes (FLOAT to FP32, DOUBLE to FP64, INT64 to
// INT64, STRING to BYTES, FLOAT16 to FP16, BFLOAT16 shown as FP32, ...) and
// symbolic dimensions to -1. A single [N, F] numeric input with a static F
// gets features f0..f(F-1); LoadOptions.Signature can name them instead,
// rename a single input, fix symbolic dimensions, and choose which outputs
// Predict returns and in which order.
//
// Outputs are tensors, or the sequence of maps scikit-learn classifiers
// return through ZipMap ({class: probability} per row), which becomes an
// [N, classes] tensor whose labels are the ZipMap node's class labels.
// Other sequences, maps and optional values are refused at load time
// unless the signature leaves them out.
//
// # Predict
//
// Every model input must be sent, by name. Each is checked (datatype,
// rank, static dimensions) and converted to the model's element type where
// no information is lost, except that floats narrow by rounding (FP64 to
// FP32 is the common case: JSON numbers arrive as FP64). Integers become
// floats only when exactly representable and floats integers only when
// whole and in range; BOOL takes 0 and 1. A single row may be sent as [F]
// to an [N, F] input. Problems are *inference.InputError naming the input.
//
// One session serves concurrent Predict calls (ONNX Runtime's Run is
// thread-safe); a cancelled context terminates a running call. Model
// implements io.Closer, which destroys the session.
//
// # Options
//
// LoadOptions.Threads sets the session's intra-op threads (0 means
// GOMAXPROCS). LoadOptions.Params, each key optionally prefixed "onnx.":
//
//	intra_op_threads           threads within an operator (overrides Threads; 0: ONNX Runtime's default)
//	inter_op_threads           threads across operators, with execution_mode=parallel
//	graph_optimization_level   disable, basic, extended or all (the default)
//	execution_mode             sequential (the default) or parallel
//
// Other keys are errors, except "threads" (the registry's copy of Threads)
// and other layers' namespaced keys ("sluice.signature").
//
// # Limits
//
// onnxruntime_go v1.27.0 cannot return FLOAT16 or BFLOAT16 outputs that
// ONNX Runtime allocates, so such outputs need a static shape (from the
// model or the signature) to be written into; scalar STRING and 16-bit
// float inputs are not supported. Sparse tensors, sequence and optional
// inputs are not supported. docs/formats/onnx.md has the user's view.
package onnx
