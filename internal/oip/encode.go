package oip

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/inference"
)

// InferResponse is an Open Inference Protocol v2 inference response.
type InferResponse struct {
	// ModelName is the model that answered.
	ModelName string
	// ModelVersion is the version that answered; left out when empty.
	ModelVersion string
	// ID echoes the request's id. It is always written, empty or not,
	// because common clients require the member.
	ID string
	// Parameters of the response; left out when empty.
	Parameters map[string]any
	// Outputs are the output tensors, written with flat data.
	Outputs []inference.Tensor
}

// AppendInferResponse appends r as JSON to dst and returns the extended
// buffer. Outputs are written with flat "data"; see the package
// documentation for how NaN and infinities are written. A tensor whose
// data does not match its shape is written as it is: callers validate.
func AppendInferResponse(dst []byte, r *InferResponse) []byte {
	dst = append(dst, `{"model_name":`...)
	dst = appendString(dst, r.ModelName)
	if r.ModelVersion != "" {
		dst = append(dst, `,"model_version":`...)
		dst = appendString(dst, r.ModelVersion)
	}
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, r.ID)
	if len(r.Parameters) > 0 {
		dst = append(dst, `,"parameters":`...)
		dst = appendAny(dst, r.Parameters)
	}
	dst = append(dst, `,"outputs":[`...)
	for i := range r.Outputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTensor(dst, &r.Outputs[i])
	}
	return append(dst, "]}"...)
}

// appendTensor writes one response output.
func appendTensor(dst []byte, t *inference.Tensor) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, t.Name)
	dst = append(dst, `,"datatype":`...)
	dst = appendString(dst, string(t.Datatype))
	dst = append(dst, `,"shape":[`...)
	for i, d := range t.Shape {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, d, 10)
	}
	dst = append(dst, `],"data":[`...)
	for i, n := 0, t.Len(); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendElem(dst, t, i)
	}
	return append(dst, "]}"...)
}

// appendElem writes element i of t, which must exist.
func appendElem(dst []byte, t *inference.Tensor, i int) []byte {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return appendFloat32(dst, t.F32[i])
	case inference.FP64:
		return appendFloat(dst, t.F64[i])
	case inference.UINT64:
		return strconv.AppendUint(dst, t.U64[i], 10)
	case inference.BOOL:
		return strconv.AppendBool(dst, t.Bool[i])
	case inference.BYTES:
		return appendString(dst, t.Bytes[i])
	}
	return strconv.AppendInt(dst, t.I64[i], 10)
}

// AppendPredictions appends {"predictions":[...],"model_version":N} for
// out, the model's first output, and returns the extended buffer. A
// tensor of shape [N] or [N,1] gives one value per row; [N,K] gives one
// array of K values per row, and higher ranks nest further. A tensor whose
// data does not match its shape is written flat.
func AppendPredictions(dst []byte, out inference.Tensor, version int) []byte {
	dst = append(dst, `{"predictions":`...)
	shape := out.Shape
	if len(shape) == 2 && shape[1] == 1 {
		shape = shape[:1]
	}
	if n, err := inference.NumElements(shape); err != nil || n != out.Len() || len(shape) == 0 {
		shape = []int64{int64(out.Len())}
	}
	i := 0
	dst = appendNested(dst, &out, shape, &i)
	dst = append(dst, `,"model_version":`...)
	dst = strconv.AppendInt(dst, int64(version), 10)
	return append(dst, '}')
}

// appendNested writes the elements of t from *i on as arrays nested as
// shape, which matches the number of elements left.
func appendNested(dst []byte, t *inference.Tensor, shape []int64, i *int) []byte {
	dst = append(dst, '[')
	for k := int64(0); k < shape[0]; k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		if len(shape) > 1 {
			dst = appendNested(dst, t, shape[1:], i)
			continue
		}
		dst = appendElem(dst, t, *i)
		*i++
	}
	return append(dst, ']')
}

// appendFloat writes f as encoding/json does, with the shortest digits
// that read back as f, and NaN and ±Inf as null. appendFloat32 writes
// float32s.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the output is also valid JavaScript.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var r rune
		var n int
		switch v := any(s).(type) {
		case string:
			r, n = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, n = utf8.DecodeRune(v[i:])
		}
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendAny writes a parameter value: the types readAny produces, other
// basic Go types, and anything else through encoding/json (null if that
// fails).
func appendAny(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case float64:
		return appendFloat(dst, v)
	case float32:
		return appendFloat32(dst, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendAny(dst, v[k])
		}
		return append(dst, '}')
	case []any:
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAny(dst, x)
		}
		return append(dst, ']')
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
