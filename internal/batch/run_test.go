package batch

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestScoresMatchXGBoost scores the fixture into every output format and
// checks each prediction against XGBoost's own.
func TestScoresMatchXGBoost(t *testing.T) {
	m := loadModel(t)
	want := expected(t)
	dir := t.TempDir()
	in := fixtureWithID(t, dir, 1)
	for _, format := range []string{"csv", "jsonl", "parquet"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, "out."+format)
			res, err := Run(context.Background(), Spec{Input: in, Output: out, IDColumn: "id", ChunkRows: 100, Workers: 3}, Options{Model: m})
			if err != nil {
				t.Fatal(err)
			}
			if res.RowsIn != int64(len(want)) || res.RowsOut != int64(len(want)) || res.Rejected != 0 {
				t.Fatalf("rows in/out/rejected = %d/%d/%d; want %d/%d/0", res.RowsIn, res.RowsOut, res.Rejected, len(want), len(want))
			}
			var sb strings.Builder
			if err := Copy(context.Background(), nil, out, "", "-", "csv", &sb); err != nil {
				t.Fatal(err)
			}
			got := lines(sb.String())
			if got[0] != "id,predict" {
				t.Fatalf("header = %q; want %q", got[0], "id,predict")
			}
			if len(got)-1 != len(want) {
				t.Fatalf("%d rows; want %d", len(got)-1, len(want))
			}
			for i, l := range got[1:] {
				id, p, _ := strings.Cut(l, ",")
				if id != strconv.Itoa(1000+i) {
					t.Fatalf("row %d: id %q; want %d", i, id, 1000+i)
				}
				v, err := strconv.ParseFloat(p, 64)
				if err != nil || math.Abs(v-want[i]) > 1e-6 {
					t.Fatalf("row %d: prediction %q; want %v", i, p, want[i])
				}
			}
			for _, left := range []string{out + ".checkpoint", out + ".partial", out + ".spool"} {
				if _, err := os.Stat(left); err == nil {
					t.Errorf("%s left behind", left)
				}
			}
		})
	}
}

// TestChunkingDoesNotChangeOutput: chunk size and worker count are
// invisible in the output, for every input and output format.
func TestChunkingDoesNotChangeOutput(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	csvIn := fixtureWithID(t, dir, 2)
	inputs := map[string]string{"csv": csvIn}
	for _, f := range []string{"jsonl", "parquet"} {
		p := filepath.Join(dir, "in."+f)
		if err := Copy(context.Background(), nil, csvIn, "", p, "", nil); err != nil {
			t.Fatal(err)
		}
		inputs[f] = p
	}
	for inF, in := range inputs {
		for _, outF := range []string{"csv", "jsonl", "parquet"} {
			ref := filepath.Join(dir, inF+"-ref."+outF)
			if _, err := Run(context.Background(), Spec{Input: in, Output: ref, IDColumn: "id", Keep: []string{"mean_radius"}, ChunkRows: 5000, Workers: 1}, Options{Model: m}); err != nil {
				t.Fatal(err)
			}
			got := filepath.Join(dir, inF+"-small."+outF)
			if _, err := Run(context.Background(), Spec{Input: in, Output: got, IDColumn: "id", Keep: []string{"mean_radius"}, ChunkRows: 37, Workers: 4}, Options{Model: m}); err != nil {
				t.Fatal(err)
			}
			if readFile(t, ref) != readFile(t, got) {
				t.Errorf("%s -> %s: output differs between chunk sizes", inF, outF)
			}
		}
	}
}

// TestRejects: rows that cannot be scored go to the rejects file with
// their line and reason; the run fails past the reject rate.
func TestRejects(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	src := lines(readFile(t, fixtureWithID(t, dir, 1)))
	src[3] = strings.Replace(src[3], ",", ",abc,", 2)                       // one field too many and a non-number
	src[5] = strings.Replace(src[5], strings.Split(src[5], ",")[4], "x", 1) // a non-number
	in := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(in, []byte(strings.Join(src, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	res, err := Run(context.Background(), Spec{Input: in, Output: out, IDColumn: "id", MaxRejectRate: 0.05}, Options{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 2 || res.RowsIn != 569 || res.RowsOut != 567 {
		t.Fatalf("rows in/out/rejected = %d/%d/%d; want 569/567/2", res.RowsIn, res.RowsOut, res.Rejected)
	}
	rej := lines(readFile(t, out+".rejects.csv"))
	if rej[0] != "line,id,reason" || !strings.HasPrefix(rej[1], "4,1002,\"has 33 fields, the header has 31") || rej[2] != `6,1004,"feature mean_area: ""x"" is not a number"` {
		t.Errorf("rejects file:\n%s", strings.Join(rej, "\n"))
	}

	// The same input with no rejects allowed fails and says why.
	out2 := filepath.Join(dir, "out2.csv")
	_, err = Run(context.Background(), Spec{Input: in, Output: out2, MaxRejectRate: 0}, Options{Model: m})
	if !errors.Is(err, ErrRejectRate) || !strings.Contains(err.Error(), "2 of 569 rows") {
		t.Fatalf("err = %v; want ErrRejectRate naming 2 of 569 rows", err)
	}
}

func TestSpecErrors(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	in := fixtureWithID(t, dir, 1)
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Output: "x.csv"}, "input: required"},
		{Spec{Input: in}, "output: required"},
		{Spec{Input: in, Output: filepath.Join(dir, "x.xlsx")}, `output: cannot tell the format`},
		{Spec{Input: in, Output: in}, "must be different files"},
		{Spec{Input: in, Output: filepath.Join(dir, "o.csv"), MaxRejectRate: 2}, "max reject rate"},
		{Spec{Input: in, Output: filepath.Join(dir, "o.csv"), Keep: []string{"nope"}}, `kept column "nope" is not in the input`},
		{Spec{Input: filepath.Join(dir, "missing.csv"), Output: filepath.Join(dir, "o2.csv")}, "no such file"},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), tt.spec, Options{Model: m})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%+v) = %v; want an error containing %q", tt.spec, err, tt.want)
		}
	}
	// A CSV without the model's features names them.
	bad := filepath.Join(dir, "nofeat.csv")
	os.WriteFile(bad, []byte("a,b\n1,2\n"), 0o644)
	_, err := Run(context.Background(), Spec{Input: bad, Output: filepath.Join(dir, "o3.csv")}, Options{Model: m})
	if err == nil || !strings.Contains(err.Error(), `"mean_radius"`) {
		t.Errorf("missing features: %v", err)
	}
}

// TestParquetRowGroupsSpanChunks: a Parquet output of several row groups,
// each starting inside a chunk, holds every row once and in order.
func TestParquetRowGroupsSpanChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("scores 300k rows")
	}
	m := loadModel(t)
	dir := t.TempDir()
	in := fixtureWithID(t, dir, 528) // 300,432 rows: 2 full groups and a part
	spec := Spec{Input: in, IDColumn: "id", ChunkRows: 1000, Workers: 2}
	spec.Output = filepath.Join(dir, "out.csv")
	if _, err := Run(context.Background(), spec, Options{Model: m}); err != nil {
		t.Fatal(err)
	}
	spec.Output = filepath.Join(dir, "out.parquet")
	if _, err := Run(context.Background(), spec, Options{Model: m}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(spec.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, rg := range pf.RowGroups() {
		sizes = append(sizes, rg.NumRows())
	}
	if want := []int64{131072, 131072, 38288}; !slices.Equal(sizes, want) {
		t.Errorf("row groups of %v rows; want %v", sizes, want)
	}
	back := filepath.Join(dir, "back.csv")
	if err := Copy(context.Background(), nil, spec.Output, "", back, "", nil); err != nil {
		t.Fatal(err)
	}
	if a, b := readFile(t, filepath.Join(dir, "out.csv")), readFile(t, back); a != b {
		al, bl := lines(a), lines(b)
		for i := range min(len(al), len(bl)) {
			if al[i] != bl[i] {
				t.Fatalf("Parquet output read back differs from the CSV output at line %d: %q vs %q (%d and %d lines)", i+1, bl[i], al[i], len(bl), len(al))
			}
		}
		t.Fatalf("Parquet output read back has %d lines; the CSV output %d", len(bl), len(al))
	}
}
