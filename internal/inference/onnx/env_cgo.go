//go:build cgo

package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ortEnv is the process's ONNX Runtime: onnxruntime_go keeps one global
// environment, loaded from one shared library.
var ortEnv struct {
	mu sync.Mutex
	// path is the library loaded; empty until a load succeeds. Guarded by mu.
	path string
	// version is the library's version string. Guarded by mu.
	version string
}

// ensureRuntime loads the ONNX Runtime library and creates the environment
// the first time it succeeds. A failure leaves nothing behind, so a later
// call (with a better path, or after the library is installed) retries.
// Errors wrap ErrUnavailable.
func ensureRuntime(explicit string) error {
	ortEnv.mu.Lock()
	defer ortEnv.mu.Unlock()
	if ortEnv.path != "" {
		if explicit != "" && !samePath(explicit, ortEnv.path) {
			return fmt.Errorf("onnx: ONNX Runtime is already loaded from %s; one process cannot also load %s: %w", ortEnv.path, explicit, ErrUnavailable)
		}
		return nil
	}
	path, looked := findLibrary(explicit)
	if path == "" {
		return fmt.Errorf("onnx: no ONNX Runtime library (%s) in %s: %w", strings.Join(libraryNames(), ", "), strings.Join(looked, ", "), ErrUnavailable)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		if err == nil {
			err = fmt.Errorf("is a directory")
		}
		return fmt.Errorf("onnx: ONNX Runtime library %s: %v: %w", path, err, ErrUnavailable)
	}
	ort.SetSharedLibraryPath(path)
	// Errors come back to the caller with every status, so ORT's own log
	// (coloured lines on stderr) would only repeat them.
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("onnx: loading ONNX Runtime from %s (Sluice is built for ONNX Runtime 1.24.1, C API version 24; older libraries are refused): %v: %w", path, err, ErrUnavailable)
	}
	ortEnv.path = path
	ortEnv.version = ort.GetVersion()
	return nil
}

// RuntimeVersion returns the version of the ONNX Runtime library this
// process loaded ("1.24.1"), or "" before the first successful Load.
func RuntimeVersion() string {
	ortEnv.mu.Lock()
	defer ortEnv.mu.Unlock()
	return ortEnv.version
}

func samePath(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}
