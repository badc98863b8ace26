package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOfflineDriftMatchesSciPy runs `sluice drift --baseline --current -o
// json` on a shifted copy of the breast cancer fixture and checks every
// number against SciPy/NumPy (testdata/drift/gen.py) to 1e-6, the exact key
// set of each object, and the worst-first order.
func TestOfflineDriftMatchesSciPy(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"drift", "--baseline", "testdata/drift/baseline.csv", "--current", "testdata/drift/current.csv", "-o", "json"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	data, err := os.ReadFile("testdata/drift/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []map[string]any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d features, want %d", len(got), len(want))
	}
	byName := map[string]map[string]any{}
	for _, w := range want {
		byName[w["feature"].(string)] = w
	}
	for _, g := range got {
		name := g["feature"].(string)
		w, ok := byName[name]
		if !ok {
			t.Errorf("unexpected feature %q", name)
			continue
		}
		gk, wk := keys(g), keys(w)
		if !slices.Equal(gk, wk) {
			t.Errorf("%s: keys %v, want %v", name, gk, wk)
		}
		for k, wv := range w {
			if k == "feature" {
				continue
			}
			x, y := g[k].(float64), wv.(float64)
			if d := math.Abs(x - y); d > 1e-6 || (y != 0 && d/math.Abs(y) > 1e-6) {
				t.Errorf("%s.%s: got %.12g, want %.12g", name, k, x, y)
			}
		}
	}
	// Worst first: the two drifted features, then by decreasing PSI.
	if got[0]["feature"] != "mean_radius" || got[1]["feature"] != "region" {
		t.Errorf("order: %v, %v first; want mean_radius, region", got[0]["feature"], got[1]["feature"])
	}
	for i := 3; i < len(got); i++ {
		if got[i]["psi"].(float64) > got[i-1]["psi"].(float64) {
			t.Errorf("order: %v (psi %v) after %v (psi %v)", got[i]["feature"], got[i]["psi"], got[i-1]["feature"], got[i-1]["psi"])
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestOfflineDriftErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"drift", "--baseline", "testdata/drift/baseline.csv"}, "both --baseline and --current"},
		{[]string{"drift", "x", "--baseline", "a", "--current", "b"}, "not both"},
		{[]string{"drift", "--baseline", "testdata/drift/baseline.csv", "--current", "testdata/drift/missing.csv"}, "missing.csv"},
		{[]string{"drift", "--baseline", "testdata/drift/baseline.csv", "--current", "testdata/drift/current.csv", "--ignore", "nope"}, ""},
		{[]string{"drift", "--baseline", "testdata/drift/baseline.csv", "--current", "testdata/drift/current.csv", "--categorical", "nope"}, "nope"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
		if tt.want == "" {
			if code != 0 {
				t.Errorf("%v: exit %d: %s", tt.args, code, stderr.String())
			}
			continue
		}
		if code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}
