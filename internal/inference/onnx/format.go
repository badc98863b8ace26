package onnx

import (
	"errors"

	"github.com/sluicehq/sluice/internal/inference"
)

// ErrUnavailable marks a build or host that cannot run ONNX models: sluice
// was built without cgo, or the ONNX Runtime shared library is missing or
// unusable. Errors wrapping it say which, and where the library was sought.
var ErrUnavailable = errors.New("ONNX models need a cgo build of sluice (CGO_ENABLED=1) and the ONNX Runtime library: run scripts/onnxruntime.sh and set SLUICE_ONNXRUNTIME_LIB")

// EnvLibrary names the environment variable that points at the ONNX
// Runtime shared library when Options.LibraryPath is empty.
const EnvLibrary = "SLUICE_ONNXRUNTIME_LIB"

// Options configure the ONNX format.
type Options struct {
	// LibraryPath is the ONNX Runtime shared library to load
	// (libonnxruntime.so.1.24.1). Empty means $SLUICE_ONNXRUNTIME_LIB, then
	// third_party/onnxruntime/ under the working directory or beside the
	// executable, then /usr/local/lib and /usr/lib. The library is loaded
	// once per process, by the first Load that finds it.
	LibraryPath string
}

// Format loads ONNX models and runs them on ONNX Runtime. Its zero value
// uses the default library search; New sets a library path.
type Format struct {
	opts Options
}

var _ inference.Format = Format{}

// New returns the ONNX format with opts.
func New(opts Options) Format { return Format{opts: opts} }

// Name returns "onnx".
func (Format) Name() string { return "onnx" }

// Detect reports whether artifact looks like a serialized ONNX ModelProto:
// an ir_version field first, then only ModelProto fields, including a
// graph. It reads only the top-level field headers.
func (Format) Detect(artifact []byte) bool { return looksLikeModel(artifact) }
