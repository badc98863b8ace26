package predlog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func decodeConfig(t *testing.T, s string) Config {
	t.Helper()
	var c Config
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return c
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"good", `{"redact":["email"],"sinks":[{"file":{"dir":"/a","segmentAge":"1h","maxAge":"168h"}},{"sample":0.1,"webhook":{"url":"https://x/y","timeout":"2s"}}]}`, nil},
		{"no sinks", `{"sinks":[]}`, []string{"sinks: give at least one sink"}},
		{"two kinds", `{"sinks":[{"file":{"dir":"/a"},"webhook":{"url":"http://x"}}]}`, []string{"sinks[0]: give exactly one of file, webhook or topic"}},
		{"no kind", `{"sinks":[{"name":"x"}]}`, []string{"sinks[0]: give exactly one of file, webhook or topic"}},
		{"sample", `{"sinks":[{"sample":0,"file":{"dir":"/a"}},{"name":"b","sample":1.5,"file":{"dir":"/b"}}]}`, []string{
			"sinks[0].sample: must be more than 0 and at most 1, got 0 (to log nothing, remove the sink)",
			"sinks[1].sample: must be more than 0 and at most 1, got 1.5 (to log nothing, remove the sink)"}},
		{"names and dirs", `{"sinks":[{"file":{"dir":"/a"}},{"file":{"dir":"/a/"}}]}`, []string{
			`sinks[1].file.dir: "/a/" is also sinks[0]'s: one sink per directory`,
			`sinks[1].name: "file" is also sinks[0]'s; give each sink its own name`}},
		{"file fields", `{"sinks":[{"queueSize":-1,"file":{"dir":"","segmentBytes":100,"maxBytes":10,"maxAge":"-1h"}}]}`, []string{
			"sinks[0].file.dir: missing",
			"sinks[0].file.maxAge: must not be negative",
			"sinks[0].file.maxBytes: 10 is less than segmentBytes 100",
			"sinks[0].queueSize: must not be negative"}},
		{"webhook fields", `{"redact":[""],"sinks":[{"webhook":{"url":"x.example/hook","maxAttempts":-1}}]}`, []string{
			"redact[0]: empty feature name",
			`sinks[0].webhook.url: want an http:// or https:// URL with a host, got "x.example/hook"`,
			"sinks[0].webhook.maxAttempts: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := decodeConfig(t, tc.config)
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a *FieldError", e)
					}
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigRefusesUnknownFieldsAndBareDurations(t *testing.T) {
	for _, s := range []string{
		`{"sinks":[{"file":{"dir":"/a","segmentAge":3600}}]}`,
		`{"sinks":[{"file":{"dir":"/a","segmentAge":"an hour"}}]}`,
		`{"sinks":[{"kafka":{}}]}`,
	} {
		var c Config
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err == nil {
			t.Errorf("decoding %s: no error", s)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("s3cret\n"), 0o600)
	logDir := filepath.Join(dir, "log")
	c := decodeConfig(t, `{"redact":["email"],"redactKeyFile":"`+keyFile+`","drainTimeout":"2s",
		"sinks":[{"name":"local","required":true,"flushInterval":"5ms","file":{"dir":"`+logDir+`"}}]}`)
	l, err := Open(&c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.drain != 2*time.Second || string(l.redact.key) != "s3cret" || !l.queues[0].Required || l.queues[0].Name != "local" {
		t.Errorf("Open did not apply the config: %+v", l)
	}
	start(t, l)
	l.Log(Record{RequestID: "a", Endpoint: "e", Inputs: []Value{Str("email", "a@b.c")}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, logDir, Filter{})
	if len(got) != 1 || len(got[0].Inputs[0].Str[0]) != hashChars {
		t.Errorf("read %+v, want one record with a hashed email", got)
	}

	c.RedactKeyFile = filepath.Join(dir, "missing")
	if _, err := Open(&c, nil); err == nil || !strings.Contains(err.Error(), "redactKeyFile") {
		t.Errorf("Open with a missing key file: %v", err)
	}
	c.RedactKeyFile = ""
	c.Sinks[0].Sample = new(float64)
	if _, err := Open(&c, nil); err == nil {
		t.Error("Open of an invalid config: no error")
	}
}
