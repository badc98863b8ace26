//go:build !cgo

package onnx

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

func TestLoadWithoutCgo(t *testing.T) {
	_, err := Format{}.Load(context.Background(), []byte{0x08, 0x07}, inference.LoadOptions{})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Load = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, inference.ErrInvalidModel) {
		t.Errorf("Load = %v: a missing runtime is not an invalid model", err)
	}
}
