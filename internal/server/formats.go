package server

import (
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/lightgbm"
	"github.com/sluicehq/sluice/internal/inference/linear"
	"github.com/sluicehq/sluice/internal/inference/onnx"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
)

// Formats returns every model format this build can load. ONNX is always
// registered; without cgo or without the ONNX Runtime library, loading an
// ONNX version fails with onnx.ErrUnavailable, which says how to get it.
func Formats(onnxLib string) *inference.Formats {
	return inference.NewFormats(
		xgboost.Format{},
		lightgbm.Format{},
		linear.Format{},
		onnx.New(onnx.Options{LibraryPath: onnxLib}),
	)
}
