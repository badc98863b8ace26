package batch

import "unsafe"

// unsafeString views b as a string without copying. The string must not
// outlive b or be kept: callers parse it at once, and clone what they keep
// (strings.Clone).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
