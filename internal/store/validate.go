package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Errors returned by the store wrap one of these with what
// was being looked up or changed (`model "fraud" version 7: not found`);
// callers branch with errors.Is and choose a status code from it.
var (
	// ErrNotFound: the model, version, alias or endpoint does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: creating something whose name is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a conditional write lost to a concurrent change
	// (ReplaceEndpoint with a stale revision). Re-read and retry.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: an argument failed validation. The error is a
	// *ValidationError naming the field.
	ErrInvalid = errors.New("invalid")
)

// ValidationError describes one invalid argument. It matches ErrInvalid
// under errors.Is.
type ValidationError struct {
	// Field names the argument, e.g. "endpoint name" or `labels["team"]`.
	Field string
	// Value is the offending value, quoted in the message; empty for values
	// not worth echoing (long text, binary data).
	Value string
	// Problem says what is wrong, e.g. "must be at most 63 characters".
	Problem string
}

func (e *ValidationError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Problem
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, value, problem string) error {
	return &ValidationError{Field: field, Value: value, Problem: problem}
}

// maxNameLen is the longest model, alias or endpoint name. 63 is the DNS
// label limit, so a name can be used as a Kubernetes object or host label.
const maxNameLen = 63

// ValidateName checks a model, alias or endpoint name against
// ^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$. field names it in the error
// ("model name", "endpoint name").
func ValidateName(field, name string) error {
	if name == "" {
		return invalid(field, "", "must not be empty")
	}
	if len(name) > maxNameLen {
		return invalid(field, name, fmt.Sprintf("must be at most %d characters", maxNameLen))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return invalid(field, name, "must be lowercase letters, digits, '.', '_' or '-'")
		}
	}
	if !isLowerAlnum(name[0]) || !isLowerAlnum(name[len(name)-1]) {
		return invalid(field, name, "must start and end with a lowercase letter or digit")
	}
	return nil
}

// ValidateAlias checks an alias: a valid name that cannot be confused with
// the other kinds of version reference, a number or "latest".
func ValidateAlias(alias string) error {
	if err := ValidateName("alias", alias); err != nil {
		return err
	}
	if isDigits(alias) {
		return invalid("alias", alias, "must not be a number (it would read as a version number)")
	}
	if alias == "latest" {
		return invalid("alias", alias, "is reserved: it always means the newest version")
	}
	return nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validateText rejects strings both databases cannot store the same way:
// PostgreSQL TEXT refuses invalid UTF-8 and NUL bytes, SQLite keeps them.
func validateText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "", "must be valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "", "must not contain NUL bytes")
	}
	return nil
}

// validateJSON checks an opaque JSON document. Valid JSON can still hold
// invalid UTF-8 inside strings, which PostgreSQL would refuse.
func validateJSON(field string, doc []byte, required bool) error {
	if len(doc) == 0 {
		if required {
			return invalid(field, "", "must not be empty")
		}
		return nil
	}
	if !json.Valid(doc) {
		return invalid(field, "", "must be valid JSON")
	}
	return validateText(field, string(doc))
}

func validateDigest(field, d string) error {
	if len(d) != 64 {
		return invalid(field, d, "must be 64 lowercase hex characters (sha256)")
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid(field, d, "must be 64 lowercase hex characters (sha256)")
		}
	}
	return nil
}

func validateStringMap(field string, m map[string]string) error {
	for _, k := range sortedKeys(m) {
		if k == "" {
			return invalid(field, "", "keys must not be empty")
		}
		if err := validateText(fmt.Sprintf("%s[%q]", field, k), k+m[k]); err != nil {
			return err
		}
	}
	return nil
}

// validateVersion checks everything CreateVersion stores.
func validateVersion(v Version) error {
	if err := ValidateName("model name", v.Model); err != nil {
		return err
	}
	if v.Format == "" {
		return invalid("format", "", "must not be empty")
	}
	if err := validateText("format", v.Format); err != nil {
		return err
	}
	if err := validateDigest("digest", v.Digest); err != nil {
		return err
	}
	if v.Size < 0 {
		return invalid("size", fmt.Sprint(v.Size), "must not be negative")
	}
	if err := validateText("description", v.Description); err != nil {
		return err
	}
	if err := validateText("created by", v.CreatedBy); err != nil {
		return err
	}
	if err := validateStringMap("labels", v.Labels); err != nil {
		return err
	}
	if err := validateStringMap("params", v.Params); err != nil {
		return err
	}
	for _, k := range sortedKeys(v.Metrics) {
		if k == "" {
			return invalid("metrics", "", "keys must not be empty")
		}
		if err := validateText(fmt.Sprintf("metrics[%q]", k), k); err != nil {
			return err
		}
		if x := v.Metrics[k]; math.IsNaN(x) || math.IsInf(x, 0) {
			return invalid(fmt.Sprintf("metrics[%q]", k), "", "must be a finite number")
		}
	}
	if err := validateJSON("artifact signature", v.ArtifactSignature, false); err != nil {
		return err
	}
	return validateJSON("signature", v.Signature, false)
}

func validateVersionNumber(version int) error {
	if version < 1 {
		return invalid("version", fmt.Sprint(version), "must be a positive number")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
