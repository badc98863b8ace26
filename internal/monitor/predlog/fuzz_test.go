package predlog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeLine checks that any line decodes without panicking, and that
// a record that decodes is written back to a line that decodes to the same
// record.
func FuzzDecodeLine(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "records.golden"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	r := sampleRecord()
	f.Add(AppendJSON(nil, &r))
	f.Add(AppendJSON(nil, &r)[:40])
	for _, s := range []string{
		`{}`,
		`{"id":"a","time":"2026-01-01T00:00:00+02:00","endpoint":"e","version":1}`,
		`{"inputs":[{"name":"a","num":["NaN","Infinity","-Infinity",null,-0,1e308]}]}`,
		`{"outputs":[{"name":"s","shape":[],"str":["\u2028","\ud800",""]}]}`,
		`{"id":"\u0000","error":"\"\\"}`,
		`{"inputs":null,"outputs":[null]}`,
		"{\"id\":\"\xff\"}",
		`{"version":-9223372036854775808,"latency_ns":9223372036854775807}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := DecodeLine(line)
		if err != nil {
			return
		}
		again := AppendJSON(nil, &r)
		r2, err := DecodeLine(again)
		if err != nil {
			t.Fatalf("re-encoded line does not decode: %v\n%s", err, again)
		}
		if diff := cmp.Diff(r, r2, recordOpts); diff != "" {
			t.Fatalf("round trip differs (-first +second):\n%s\nline: %s", diff, again)
		}
	})
}
