package stream

import (
	"math"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    int // instances
		wantErr string
	}{
		{in: `{"a":1,"b":-2.5e3,"c":"x","d":true,"e":null}`, want: 1},
		{in: ` [ {"a":1} , {"a":2} ] `, want: 2},
		{in: `{}`, want: 1},
		{in: `{"s":"caf\u00e9 \"q\""}`, want: 1},
		{in: ``, wantErr: "empty message"},
		{in: `[]`, wantErr: "empty array"},
		{in: `42`, wantErr: "want a JSON object"},
		{in: `{"a":{"b":1}}`, wantErr: "a: nested objects"},
		{in: `{"a":[1]}`, wantErr: "a: nested objects"},
		{in: `{"a":1,"a":2}`, want: 1}, // the pipeline refuses a feature given twice
		{in: `{"a":1}x`, wantErr: "data after"},
		{in: `{"a":1`, wantErr: "a: want ',' or '}'"},
		{in: `{"a":1-}`, wantErr: `a: bad number "1-"`},
		{in: `[{"a":1},2]`, wantErr: "[1]: want a JSON object"},
		{in: "{\"a\":\"\x01\"}", wantErr: "control character"},
		{in: `{"a":"\x41"}`, wantErr: "bad string"},
		{in: `{a:1}`, wantErr: "want a field name in quotes"},
	}
	for _, tt := range tests {
		got, err := decodeJSON([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decodeJSON(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != tt.want {
			t.Errorf("decodeJSON(%q) = %d instances, %v; want %d", tt.in, len(got), err, tt.want)
		}
	}
	got, _ := decodeJSON([]byte(`{"a":1,"b":-2.5e3,"c":"x","d":true,"e":null,"s":"caf\u00e9"}`))
	in := got[0]
	check := func(name string, kind byte, num float64, str string) {
		f, ok := in.get(name)
		if !ok || f.kind != kind || (kind != kindNull && f.num != num) || string(f.raw) != str {
			t.Errorf("field %s = %+v, want kind %d num %v str %q", name, f, kind, num, str)
		}
	}
	check("a", kindNumber, 1, "1")
	check("b", kindNumber, -2500, "-2.5e3")
	check("c", kindString, 0, "x")
	check("d", kindBool, 1, "")
	check("e", kindNull, 0, "")
	check("s", kindString, 0, "café")
	if v, err := (&field{kind: kindString, raw: []byte("x")}).number("c"); err == nil {
		t.Errorf("a string as a number = %v, want an error", v)
	}
	if v, _ := (&field{kind: kindNull}).number("e"); !math.IsNaN(v) {
		t.Errorf("null as a number = %v, want NaN", v)
	}
}

func TestDecodeCSV(t *testing.T) {
	cols := []string{"id", "amount", "country"}
	got, err := decodeCSV([]byte("t1,12.5,DE\n\nt2,,\"F,R\"\n"), cols, ',')
	if err != nil || len(got) != 2 {
		t.Fatalf("decodeCSV = %d, %v; want 2 instances", len(got), err)
	}
	if f, _ := got[0].get("amount"); f.kind != kindNumber || f.num != 12.5 {
		t.Errorf("amount = %+v", f)
	}
	if f, _ := got[1].get("amount"); f.kind != kindNull {
		t.Errorf("empty amount = %+v, want null", f)
	}
	if f, _ := got[1].get("country"); string(f.raw) != "F,R" {
		t.Errorf("quoted country = %q", f.raw)
	}
	if _, err := decodeCSV([]byte("t1,12.5\n"), cols, ','); err == nil || !strings.Contains(err.Error(), "line 1: 2 values, want 3") {
		t.Errorf("short line error = %v", err)
	}
	if _, err := decodeCSV([]byte("\n"), cols, ','); err == nil {
		t.Error("empty CSV message: no error")
	}
	got, err = decodeCSV([]byte("a;1;x"), cols, ';')
	if err != nil || len(got) != 1 {
		t.Errorf("semicolon CSV = %v, %v", got, err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":"x"}]`, `{"a":null,"b":true,"c":"\u00e9"}`, `{`, `[`, `{"a":1e999}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, err := decodeJSON(b)
		if err == nil && len(ins) == 0 {
			t.Fatal("no error and no instances")
		}
	})
}

func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{"1,2,3", "a,\"b,c\",d\n1,2,3", "\n", "\"", ",,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, err := decodeCSV(b, []string{"x", "y", "z"}, ',')
		if err == nil && len(ins) == 0 {
			t.Fatal("no error and no instances")
		}
		for _, in := range ins {
			if len(in.fields) != 3 {
				t.Fatalf("%d fields, want 3", len(in.fields))
			}
		}
	})
}
