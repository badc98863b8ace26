package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStreamExamples decodes and validates every Stream example.
func TestStreamExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/streams/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples/streams/*.yaml")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeStream(b, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestStreamSpecErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/b, colour: red}", `unknown field "colour"`},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: redis://h/a, endpoint: e, sink: nats://h/b}", "spec.source: broker URL"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, sink: nats://h/b}", "spec: give an endpoint or a model"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/a}", "spec.sink: must not be the source"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/b, window: {type: sliding, size: 10m, aggregates: [{fn: avg, field: x, as: out}]}}", "spec.window.aggregates[0].fn"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/b, window: {type: tumbling, size: ten, aggregates: [{fn: count, as: n}]}}", "duration"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: s}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/b, decode: {format: csv}}", "spec.decode.columns: required"},
		{"apiVersion: sluice.dev/v1\nkind: Stream\nmetadata: {name: Bad_Name}\nspec: {source: nats://h/a, endpoint: e, sink: nats://h/b}", "metadata.name"},
	}
	for _, tt := range tests {
		_, err := decodeStream([]byte(tt.doc), "s.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decodeStream(%q) error = %v, want one containing %q", tt.doc, err, tt.want)
		}
	}
}

func TestWindowFlags(t *testing.T) {
	w, err := (&windowFlags{window: "sliding:10m:1m", aggs: []string{"count:n", "sum:amount:s"}}).parse()
	if err != nil || w.Type != "sliding" || len(w.Aggregates) != 2 || w.Aggregates[1].Field != "amount" {
		t.Errorf("parse = %+v, %v", w, err)
	}
	for _, bad := range []windowFlags{{window: "hopping"}, {window: "tumbling:x"}, {window: "tumbling:1m", aggs: []string{"sum:x"}}, {aggs: []string{"count:n"}}} {
		if _, err := bad.parse(); err == nil {
			t.Errorf("parse(%+v): no error", bad)
		}
	}
}

func FuzzDecodeStream(f *testing.F) {
	files, _ := filepath.Glob("../../examples/streams/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("apiVersion: sluice.dev/v1\nkind: Stream\nspec: {window: {size: 1x}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := decodeStream(b, "f.yaml")
		if err == nil && doc.Validate() != nil {
			t.Fatal("decodeStream accepted a document that does not validate")
		}
	})
}

func TestCSVLineJSON(t *testing.T) {
	got, err := csvLineJSON([]string{"id", "amount", "note"}, `t1,12.5,"a, b"`)
	if err != nil || string(got) != `{"id":"t1","amount":12.5,"note":"a, b"}` {
		t.Errorf("csvLineJSON = %s, %v", got, err)
	}
	if _, err := csvLineJSON([]string{"a"}, "1,2"); err == nil {
		t.Error("a line longer than the header: no error")
	}
}
