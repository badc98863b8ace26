package manifest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// TestBadFiles checks that each file under testdata/bad is refused with the
// error its first line ("# want: ...") gives: the field path, the problem
// and the line.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(fh).ReadString('\n')
			fh.Close()
			want, ok := strings.CutPrefix(strings.TrimSpace(first), "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be # want: ...", f)
			}
			_, err = Load(nil, f)
			if err == nil {
				t.Fatalf("Load(%s) = nil error, want %q", f, want)
			}
			if got := err.Error(); !strings.Contains(got, f+": "+want) {
				t.Errorf("Load(%s) error:\n got: %s\nwant: %s: %s", f, got, f, want)
			}
		})
	}
}

func TestGoodFileOrderAndFields(t *testing.T) {
	docs, err := Load(nil, "testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID())
	}
	if diff := cmp.Diff([]string{"Model/fraud", "Endpoint/fraud", "Rollout/fraud-canary", "Job/nightly-fraud", "Stream/fraud-scores"}, ids); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	m := docs[0].Model
	if got := m.Spec.AllLabels(); !cmp.Equal(got, map[string]string{"team": "risk", "owner": "risk-team", "intended_use": "card fraud scores"}) {
		t.Errorf("labels = %v", got)
	}
	if docs[0].Dir != "testdata/good" || docs[0].Line != 28 {
		t.Errorf("model document at %s line %d, dir %q", docs[0].File, docs[0].Line, docs[0].Dir)
	}
	ro := docs[2].Rollout
	if ro.Spec.Candidate != "2" || len(ro.Spec.Steps) != 3 || ro.Spec.Steps[1].Mirror == nil || ro.Spec.Steps[1].Mirror.Percent != 100 {
		t.Errorf("rollout decoded as %+v", ro.Spec)
	}
	if got := docs[2].LineOf("spec.steps[2].analysis.minDuration"); got != 16 {
		t.Errorf("line of spec.steps[2].analysis.minDuration = %d, want 16", got)
	}
	job := docs[3].Job
	if job.Spec.Model != "fraud@production" || job.Spec.Schedule != "0 2 * * *" || job.Spec.MaxRejectRate == nil || *job.Spec.MaxRejectRate != 0.01 ||
		!cmp.Equal(job.Spec.KeepColumns, []string{"region"}) {
		t.Errorf("job decoded as %+v", job.Spec)
	}
	st := docs[4].Stream
	if st.Spec.Endpoint != "fraud" || st.Metadata.Labels["team"] != "risk" || st.Spec.Window == nil ||
		time.Duration(st.Spec.Window.Size) != 10*time.Minute || len(st.Spec.Window.Aggregates) != 1 {
		t.Errorf("stream decoded as %+v", st.Spec)
	}
	if got := docs[4].LineOf("spec.window.aggregates[0].as"); got != 57 {
		t.Errorf("line of spec.window.aggregates[0].as = %d, want 57", got)
	}
}

// TestRoundTrip checks that Marshal's output parses to the same objects.
func TestRoundTrip(t *testing.T) {
	docs, err := Load(nil, "testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	var objs []any
	for _, d := range docs {
		objs = append(objs, d.Object())
	}
	y, err := Marshal(objs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("round.yaml", "testdata/good", y)
	if err != nil {
		t.Fatalf("parsing the marshalled documents: %v\n%s", err, y)
	}
	for i := range docs {
		if diff := cmp.Diff(docs[i].Object(), again[i].Object()); diff != "" {
			t.Errorf("%s changed in the round trip (-before +after):\n%s", docs[i].ID(), diff)
		}
	}
}

func TestAllProblemsReported(t *testing.T) {
	src := `apiVersion: sluice.dev/v1
kind: Endpoint
metadata:
  name: Fraud
spec:
  model: fraud
  traffic:
    split:
      - {version: 1, weight: -1}
      - {version: 2, weight: 10}
`
	_, err := Parse("e.yaml", ".", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"e.yaml: metadata.name:", "(line 4)", "e.yaml: spec.traffic.split[0].weight:", "(line 9)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestAllDecodingProblemsReported(t *testing.T) {
	src := `apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: r}
spec:
  endpoint: e
  candidat: "2"
  steps:
    - setWeight: ten
    - pause: {duration: 5}
`
	_, err := Parse("r.yaml", ".", []byte(src))
	for _, want := range []string{
		"r.yaml: spec.candidat: unknown field; did you mean candidate? (line 6)",
		"r.yaml: spec.steps[0].setWeight: expected a number, got the string \"ten\" (line 8)",
		"r.yaml: spec.steps[1].pause.duration: duration must be a string like \"30s\", got 5 (line 9)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestHostileInput(t *testing.T) {
	laughs := `apiVersion: sluice.dev/v1
kind: Model
metadata: {name: x}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
spec:
  artifact: m.json
  labels: {x: *f}
`
	tests := []struct{ name, src, want string }{
		{"laughs", laughs, "a: unknown field"},
		{"laughs in a free-form field", strings.Replace(strings.Replace(laughs, "a: &a", "x-a: &a", 1), "  labels: {x: *f}", "  signature: {inputs: *f}", 1), "x-a: unknown field"},
		{"too big", "apiVersion: sluice.dev/v1\n#" + strings.Repeat("x", MaxFileBytes), "larger than"},
		{"not a mapping", "- 1\n- 2\n", "a document must be a mapping"},
		{"syntax", "kind: [", "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("h.yaml", ".", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestAliasBudget walks nine levels of nine-fold aliases (9^9 nodes when
// expanded): the walk stops at the node budget instead of following them.
func TestAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s*l%d]\n", i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 8), i-1)
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &root); err != nil {
		t.Fatal(err)
	}
	w := &walker{lines: map[string]int{}}
	_, err := w.generic("", root.Content[0])
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("walk = %v, want excessive aliasing", err)
	}
	if w.nodes > maxNodes+1 {
		t.Errorf("walked %d nodes, budget %d", w.nodes, maxNodes)
	}
}

func TestDiff(t *testing.T) {
	a := "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\nk: 11\nl: 12\n"
	b := "a: 1\nb: 2\nc: 3\nd: 40\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\nk: 11\nl: 12\nm: 13\n"
	want := `--- live
+++ file
@@ -1,7 +1,7 @@
 a: 1
 b: 2
 c: 3
-d: 4
+d: 40
 e: 5
 f: 6
 g: 7
@@ -10,3 +10,4 @@
 j: 10
 k: 11
 l: 12
+m: 13
`
	if got := Diff("live", "file", a, b); got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	if got := Diff("live", "file", a, a); got != "" {
		t.Errorf("Diff of equal texts = %q", got)
	}
	if got := Diff("live", "file", "", "x: 1\n"); got != "--- live\n+++ file\n@@ -0,0 +1 @@\n+x: 1\n" {
		t.Errorf("Diff from nothing = %q", got)
	}
}

// FuzzParse feeds untrusted YAML to the manifest decoder: an error, never a
// panic or a hang.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/good/all.yaml", "testdata/bad/setweight.yaml", "testdata/bad/traffic.yaml", "testdata/bad/second-doc.yaml", "testdata/bad/job-type.yaml", "testdata/bad/stream-window.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: sluice.dev/v1\nkind: Model\nmetadata: {name: &a x}\nspec: {artifact: *a, labels: {a: *a}}\n"))
	f.Add([]byte("---\n---\nkind: Rollout\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("f.yaml", ".", data)
		if err != nil {
			return
		}
		for _, d := range docs {
			if _, err := Marshal(d.Object()); err != nil {
				t.Errorf("a parsed document does not marshal: %v", err)
			}
		}
	})
}

// TestExamples checks that the repository's example documents of every
// kind decode and validate.
func TestExamples(t *testing.T) {
	tests := []struct {
		dir  string
		kind string
	}{
		{"manifests", KindRollout},
		{"jobs", KindJob},
		{"streams", KindStream},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			docs, err := Load(nil, filepath.Join("..", "..", "examples", tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, d := range docs {
				if d.Kind == tt.kind {
					n++
				}
			}
			if n == 0 {
				t.Errorf("examples/%s has no %s document", tt.dir, tt.kind)
			}
		})
	}
}
