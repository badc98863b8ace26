package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIErrors checks that bad input through the CLI gives a non-zero exit
// and a message naming the problem.
func TestCLIErrors(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	data, err := os.ReadFile(model)
	must(t, err, "read")
	truncated := filepath.Join(dir, "truncated.json")
	must(t, os.WriteFile(truncated, data[:len(data)/3], 0o644), "write")
	junk := filepath.Join(dir, "junk.bin")
	must(t, os.WriteFile(junk, []byte("\x00\x01not a model"), 0o644), "write")
	s.cli(t, "model", "push", "bc", model)

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"model", "push", "bc", truncated}, "invalid model"},
		{[]string{"model", "push", "bc", junk}, "cannot detect model format"},
		{[]string{"model", "push", "bc", junk, "--format", "pickle"}, `unknown model format "pickle"`},
		{[]string{"model", "push", "bc", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"model", "push", "bc", model, "--metric", "auc=high"}, "--metric auc=high"},
		{[]string{"model", "show", "nope"}, `"nope"`},
		{[]string{"model", "show", "bc@7"}, "version 7"},
		{[]string{"model", "alias", "bc", "9", "production"}, "9"},
		{[]string{"endpoint", "create", "e", "--model", "bc"}, "give --model and --version"},
		{[]string{"endpoint", "create", "e", "--model", "bc", "--version", "@nope"}, "nope"},
		{[]string{"endpoint", "set-version", "missing", "1"}, `"missing"`},
		{[]string{"predict", "missing", "-d", "{}"}, `"missing"`},
		{[]string{"model", "list", "-o", "xml"}, "--output"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := s.cliResult(tt.args...)
			if code == 0 {
				t.Fatalf("exit 0, want failure")
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
		})
	}
	// Nothing half-written: still exactly one version.
	out := s.cli(t, "model", "show", "bc")
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("model show bc after failed pushes:\n%s\nwant a header and one version", out)
	}
	if out := s.cli(t, "version"); !strings.HasPrefix(out, "sluice ") {
		t.Errorf("version = %q", out)
	}
	if out := s.cli(t, "model", "push", "--help"); !strings.Contains(out, "Examples:") {
		t.Errorf("push --help has no examples:\n%s", out)
	}
}
