//go:build !cgo

package onnx

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/inference"
)

// Load returns ErrUnavailable: this sluice was built without cgo, and ONNX
// Runtime is a C library.
func (Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	return nil, fmt.Errorf("onnx: this sluice was built with CGO_ENABLED=0: %w", ErrUnavailable)
}

// RuntimeVersion returns "": a build without cgo never loads ONNX Runtime.
func RuntimeVersion() string { return "" }
