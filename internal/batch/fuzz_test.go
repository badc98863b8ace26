package batch

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzTextInput feeds arbitrary bytes to the CSV and JSON Lines readers:
// they must return rows or errors, never panic, and every row must have
// its features or a reason.
func FuzzTextInput(f *testing.F) {
	f.Add([]byte("id,a,b\n1,2,3\n2,\"x\ny\",4\n"), 2)
	f.Add([]byte("id,a,b\n1,2\n\n3,4,5,6\n\"unterminated\n"), 1)
	f.Add([]byte(`{"id":1,"a":2,"b":null}`+"\n"+`{"a":"3.5","b":true}`+"\nnot json\n[1,2]\n"), 3)
	f.Add([]byte("a,b\r\n1e5,-.5\r\nNA,\r\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk < 1 || chunk > 64 {
			chunk = 3
		}
		dir := t.TempDir()
		for _, format := range []string{FormatCSV, FormatJSONL} {
			path := filepath.Join(dir, "in."+format)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			plan := &Plan{Features: []string{"a", "b"}, AllowMissing: true, Keep: []string{"id"}}
			in, err := openInput(context.Background(), LocalFS{}, path, format, plan, Position{}, Range{}, chunk)
			if err != nil {
				continue
			}
			var fr Frame
			for {
				c, err := in.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: Next: %v", format, err)
				}
				if err := c.Decode(&fr); err != nil {
					break
				}
				if len(fr.X) != 2*fr.Rows || len(fr.Lines) != fr.Rows {
					t.Fatalf("%s: frame of %d rows has %d features and %d lines", format, fr.Rows, len(fr.X), len(fr.Lines))
				}
			}
			in.Close()
		}
	})
}
