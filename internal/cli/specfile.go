package cli

import (
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

// maxSpecBytes bounds a spec file read by the CLI.
const maxSpecBytes = 1 << 20

// readSpec strictly decodes a YAML or JSON spec file into v (unknown fields
// are errors). Every spec file the CLI reads goes through it: the size is
// capped, and the YAML decoder refuses documents whose aliases expand
// excessively ("billion laughs").
func readSpec(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return decodeSpec(path, b, v)
}

func decodeSpec(path string, b []byte, v any) error {
	if len(b) > maxSpecBytes {
		return fmt.Errorf("%s: larger than %d bytes", path, maxSpecBytes)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
