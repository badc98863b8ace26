package traffic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written in specs as a string such as "30s",
// "10m" or "1h30m" (the syntax of time.ParseDuration). Numbers are refused:
// a bare 30 could mean seconds or nanoseconds, so the unit must be written.
type Duration time.Duration

// String formats d like time.Duration does ("10m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes d as its String form; YAML and JSON encoders use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a time.ParseDuration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration must be like \"30s\" or \"10m\": %q is not", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON encodes d as a JSON string ("10m0s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a JSON string in time.ParseDuration syntax; null
// leaves d unchanged, as encoding/json does for other types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\", got %s", b)
	}
	return d.UnmarshalText([]byte(s))
}
