package lightgbm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.v4.model from the v2 originals")

// toV4 rewrites a v2 or v3 LightGBM text model the way LightGBM 4 would
// save it, without changing any prediction: version=v4, an is_linear=0 line
// before each tree's shrinkage= line (v3 files from LightGBM 3 already have
// it), the "end of trees" marker, and tree_sizes recomputed for the longer
// trees. Everything else is copied byte for byte.
func toV4(src []byte) ([]byte, error) {
	text := string(src)
	treesAt := strings.Index(text, "\nTree=0\n")
	if treesAt < 0 {
		return nil, errors.New("no Tree=0")
	}
	header, rest := text[:treesAt+1], text[treesAt+1:]
	endAt := strings.Index(rest, "end of trees\n")
	tail := "end of trees\n"
	if endAt < 0 {
		endAt = strings.Index(rest, "\nfeature importances:")
		if endAt < 0 {
			endAt = len(rest)
		}
		tail += rest[endAt:]
	} else {
		tail = rest[endAt:]
	}
	// Split the trees on their Tree= lines; each block keeps its trailing
	// blank lines, as tree_sizes counts them.
	var blocks []string
	body := rest[:endAt]
	for i := 0; body != ""; i++ {
		next := strings.Index(body, fmt.Sprintf("\nTree=%d\n", i+1))
		block := body
		if next >= 0 {
			block, body = body[:next+1], body[next+1:]
		} else {
			body = ""
		}
		if !strings.Contains(block, "\nis_linear=") {
			k := strings.Index(block, "\nshrinkage=")
			if k < 0 {
				return nil, fmt.Errorf("Tree=%d has no shrinkage= line", i)
			}
			block = block[:k+1] + "is_linear=0\n" + block[k+1:]
		}
		blocks = append(blocks, block)
	}
	var sizes []string
	for _, b := range blocks {
		sizes = append(sizes, strconv.Itoa(len(b)))
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(header, "\n") {
		switch {
		case strings.HasPrefix(line, "version="):
			line = "version=v4\n"
		case strings.HasPrefix(line, "tree_sizes="):
			line = "tree_sizes=" + strings.Join(sizes, " ") + "\n"
		}
		out.WriteString(line)
	}
	for _, b := range blocks {
		out.WriteString(b)
	}
	out.WriteString(tail)
	return []byte(out.String()), nil
}

// TestV4Golden checks that the stored v4 conversion of the DART model is
// what toV4 produces; go test -run TestV4Golden -update rewrites it.
func TestV4Golden(t *testing.T) {
	src := readFile(t, "lg_dart_breast_cancer.model")
	got, err := toV4(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "lg_dart_breast_cancer.v4.model")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, "lg_dart_breast_cancer.v4.model")
	if !bytes.Equal(got, want) {
		t.Errorf("toV4(lg_dart_breast_cancer.model) differs from %s; run go test -run TestV4Golden -update", path)
	}
	// Only the version line, is_linear lines and tree_sizes change.
	if n := bytes.Count(got, []byte("\nis_linear=0\n")); n != 10 {
		t.Errorf("%d is_linear=0 lines, want one per tree (10)", n)
	}
	if d := len(got) - len(src); d != 10*len("is_linear=0\n")+len(sizesLine(got))-len(sizesLine(src)) {
		t.Errorf("conversion grew the file by %d bytes, more than the is_linear lines and tree_sizes", d)
	}
}

func sizesLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "tree_sizes=") {
			return l
		}
	}
	return ""
}

// TestV4TreeSizes checks that the tree_sizes of a converted file match the
// byte length of each tree block, as LightGBM needs to find the trees.
func TestV4TreeSizes(t *testing.T) {
	for _, name := range []string{"lg_dart_breast_cancer.v4.model", "v4_linear.txt", "v4_categorical.txt", "v4_missing.txt"} {
		text := string(readFile(t, name))
		var sizes []int
		for _, f := range strings.Fields(strings.TrimPrefix(sizesLine([]byte(text)), "tree_sizes=")) {
			n, _ := strconv.Atoi(f)
			sizes = append(sizes, n)
		}
		pos := strings.Index(text, "\nTree=0\n") + 1
		for i, n := range sizes {
			if !strings.HasPrefix(text[pos:], fmt.Sprintf("Tree=%d\n", i)) {
				t.Fatalf("%s: tree_sizes[%d] does not lead to Tree=%d", name, i, i)
			}
			pos += n
		}
		if !strings.HasPrefix(text[pos:], "end of trees\n") {
			t.Errorf("%s: tree_sizes do not end at \"end of trees\"", name)
		}
	}
}
