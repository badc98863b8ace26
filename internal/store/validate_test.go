package store

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// nameRE is the documented rule; ValidateName implements it by hand to give
// precise messages, and these tests hold the two together.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		want string // "" = valid, else the error message
	}{
		{"a", ""},
		{"fraud-v2.eu_west", ""},
		{"0", ""},
		{strings.Repeat("x", 63), ""},
		{"", "endpoint name: must not be empty"},
		{strings.Repeat("x", 64), `endpoint name "` + strings.Repeat("x", 64) + `": must be at most 63 characters`},
		{"Foo Bar", `endpoint name "Foo Bar": must be lowercase letters, digits, '.', '_' or '-'`},
		{"fraud/..", `endpoint name "fraud/..": must be lowercase letters, digits, '.', '_' or '-'`},
		{"-a", `endpoint name "-a": must start and end with a lowercase letter or digit`},
		{"a.", `endpoint name "a.": must start and end with a lowercase letter or digit`},
		{"é", `endpoint name "é": must be lowercase letters, digits, '.', '_' or '-'`},
	}
	for _, tt := range tests {
		err := ValidateName("endpoint name", tt.name)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ValidateName(%q) error %v does not match ErrInvalid", tt.name, err)
			}
		}
		if got != tt.want {
			t.Errorf("ValidateName(%q) = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidateAlias(t *testing.T) {
	for alias, valid := range map[string]bool{
		"production": true, "v2": true, "1e5": true, "2024-q4": true,
		"3": false, "007": false, "latest": false, "Prod": false, "": false,
	} {
		if err := ValidateAlias(alias); (err == nil) != valid {
			t.Errorf("ValidateAlias(%q) = %v; want valid=%v", alias, err, valid)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "fraud-v2", "-a", "a-", "A", "", "a..b", strings.Repeat("z", 63), strings.Repeat("z", 64), "a\x00b", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName("name", s)
		if (err == nil) != nameRE.MatchString(s) {
			t.Errorf("ValidateName(%q) = %v, but the regexp says match=%v", s, err, nameRE.MatchString(s))
		}
	})
}
