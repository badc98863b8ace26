package server

import (
	"log/slog"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/lightgbm"
	"github.com/sluicehq/sluice/internal/inference/linear"
	"github.com/sluicehq/sluice/internal/inference/onnx"
	"github.com/sluicehq/sluice/internal/inference/remote"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
)

// Formats returns every model format this build can load. ONNX is always
// registered; without cgo or without the ONNX Runtime library, loading an
// ONNX version fails with onnx.ErrUnavailable, which says how to get it.
//
// The "http" format is a version served by an external model server (Triton,
// KServe, MLServer, TF Serving): its artifact is a small JSON document with
// the server's URLs.
func Formats(onnxLib string, log *slog.Logger) *inference.Formats {
	return inference.NewFormats(
		xgboost.Format{},
		lightgbm.Format{},
		linear.Format{},
		onnx.New(onnx.Options{LibraryPath: onnxLib}),
		remote.New(remote.Options{Logger: log}),
	)
}
