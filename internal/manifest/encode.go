package manifest

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Marshal writes documents as one YAML stream, "---" between them. Keys
// are sorted, so the output of the same objects is always the same, and
// it decodes with Parse to the same objects.
func Marshal(objs ...any) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encoding document %d: %w", i+1, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
