package predlog

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// FuzzEncoders checks the hand-written number, string and time encoders
// against strconv, the escaping rules and the time package.
func FuzzEncoders(f *testing.F) {
	f.Add(math.Float64bits(0.42), "r-1", int64(1_772_600_767), int64(890123456))
	f.Add(math.Float64bits(float64(float32(0.1))), "\u2028\"\\\x00\xff", int64(-62_135_596_800), int64(0))
	f.Add(math.Float64bits(1e-4), "日本語", int64(253_402_300_799), int64(999_999_999))
	f.Fuzz(func(t *testing.T, bits uint64, s string, sec, nsec int64) {
		checkG(t, math.Float64frombits(bits))
		checkInt(t, sec)
		checkInt(t, nsec)
		if got, want := string(appendString(nil, s)), string(appendStringByRune(nil, s)); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		tm := time.Unix(sec, nsec)
		want := "null"
		if u := tm.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
			want = `"` + u.Format(time.RFC3339Nano) + `"`
		}
		if got := string(appendTime(nil, tm)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	})
}
