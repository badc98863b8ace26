package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/traffic"
)

// billionLaughs expands to 9^9 strings if aliases are followed blindly.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
model: x
`

func TestReadSpecRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body, want string
		into             any
	}{
		{"laughs.yaml", billionLaughs, "excessive aliasing", &apiclient.EndpointSpec{}},
		{"laughs-policy.yaml", strings.Replace(billionLaughs, "model: x", "split: []", 1), "excessive aliasing", &traffic.Policy{}},
		{"big.yaml", "model: x\ndescription: " + strings.Repeat("x", maxSpecBytes), "larger than", &apiclient.EndpointSpec{}},
		{"unknown.yaml", "model: x\nauthh: token\n", "authh", &apiclient.EndpointSpec{}},
		{"bad.yaml", "model: [", "", &apiclient.EndpointSpec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readSpec(write(tt.name, tt.body), tt.into)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("readSpec = %v; want an error naming the file and %q", err, tt.want)
			}
		})
	}
	var sp apiclient.EndpointSpec
	if err := readSpec(write("ok.yaml", "model: fraud\nversion: \"3\"\nauth: token\napproval: required\n"), &sp); err != nil || sp.Auth != "token" || sp.Approval != "required" {
		t.Errorf("good spec: %+v, %v", sp, err)
	}
}

// FuzzDecodeSpec feeds untrusted YAML to the spec decoder: an error, never
// a panic or a hang.
func FuzzDecodeSpec(f *testing.F) {
	f.Add([]byte("model: fraud\nversion: \"3\"\n"))
	f.Add([]byte(billionLaughs))
	f.Add([]byte("model: &x m\nversion: *x\ntraffic: {split: [{version: 1, weight: 1}]}\n"))
	f.Add([]byte("{\"model\": 1}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sp apiclient.EndpointSpec
		_ = decodeSpec("f", data, &sp)
		var p traffic.Policy
		_ = decodeSpec("f", data, &p)
	})
}
