package batch

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestSplitCoversEveryRowOnce scores each shard of a split input on its
// own and checks that, together, the shards hold every row exactly once,
// for several shard counts and every input format.
func TestSplitCoversEveryRowOnce(t *testing.T) {
	m := loadModel(t)
	dir := t.TempDir()
	csvIn := fixtureWithID(t, dir, 1) // 569 rows, ids 1000..1568
	inputs := []string{csvIn}
	for _, f := range []string{"jsonl", "parquet"} {
		p := filepath.Join(dir, "in."+f)
		if err := Copy(context.Background(), nil, csvIn, "", p, "", nil); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, p)
	}
	for _, in := range inputs {
		for _, n := range []int{1, 2, 7, 23} {
			t.Run(fmt.Sprintf("%s/%d", filepath.Ext(in), n), func(t *testing.T) {
				rs, err := Split(context.Background(), nil, in, "", n)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int
				for i, r := range rs {
					out := filepath.Join(t.TempDir(), fmt.Sprintf("part-%d.csv", i))
					res, err := Run(context.Background(), Spec{Input: in, Output: out, IDColumn: "id", Range: r, ChunkRows: 50}, Options{Model: m})
					if err != nil {
						t.Fatalf("shard %d %+v: %v", i, r, err)
					}
					for _, l := range lines(readFile(t, out))[1:] {
						if l == "" {
							continue
						}
						id, err := strconv.Atoi(strings.SplitN(l, ",", 2)[0])
						if err != nil {
							t.Fatalf("shard %d: line %q", i, l)
						}
						ids = append(ids, id)
					}
					if res.RowsIn != int64(res.RowsOut) {
						t.Errorf("shard %d rejected rows", i)
					}
				}
				sort.Ints(ids)
				if len(ids) != 569 {
					t.Fatalf("%d rows across %d shards; want 569", len(ids), len(rs))
				}
				for i, id := range ids {
					if id != 1000+i {
						t.Fatalf("position %d holds id %d; want every id once", i, id)
					}
				}
			})
		}
	}
}
