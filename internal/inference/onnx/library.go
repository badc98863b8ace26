package onnx

import (
	"os"
	"path/filepath"
	"runtime"
)

// libraryNames are the file names the search tries in each directory, the
// exact version Sluice is built against first.
func libraryNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libonnxruntime.1.24.1.dylib", "libonnxruntime.dylib"}
	}
	return []string{"libonnxruntime.so.1.24.1", "libonnxruntime.so.1", "libonnxruntime.so"}
}

// libraryDirs are the directories searched when neither Options.LibraryPath
// nor $SLUICE_ONNXRUNTIME_LIB names the library.
func libraryDirs() []string {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, filepath.Join(wd, "third_party", "onnxruntime"))
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, filepath.Join(d, "third_party", "onnxruntime"), d)
	}
	return append(dirs, "/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
}

// findLibrary returns the library to load: the explicit path when given
// (even if missing, so the error names it), else $SLUICE_ONNXRUNTIME_LIB,
// else the first existing file in the default directories. When it finds
// nothing it returns the directories it searched.
func findLibrary(explicit string) (path string, searched []string) {
	if explicit != "" {
		return explicit, nil
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		return env, nil
	}
	for _, d := range libraryDirs() {
		for _, n := range libraryNames() {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
		searched = append(searched, d)
	}
	return "", searched
}
