package batch

import (
	"math"
	"slices"
	"strconv"
)

// Kind is the type of a kept (passed-through) value.
type Kind uint8

// Kinds of kept values. A column's kind in the output is the union of the
// kinds its values had: all Int stays Int, Int and Float becomes Float, any
// other mix becomes String.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindBool:
		return "bool"
	}
	return "null"
}

// unionKind returns the kind a column holding values of kinds a and b has.
func unionKind(a, b Kind) Kind {
	switch {
	case a == b, b == KindNull:
		return a
	case a == KindNull:
		return b
	case (a == KindInt || a == KindFloat || a == kindF32) && (b == KindInt || b == KindFloat || b == kindF32):
		return KindFloat
	}
	return KindString
}

// Value is one kept value: the id column or a --keep-columns column, copied
// from the input to the output.
type Value struct {
	Kind Kind
	S    string
	I    int64
	F    float64
	B    bool
}

// Text returns the value as CSV text ("" for null).
func (v Value) Text() string {
	switch v.Kind {
	case KindString:
		return v.S
	case KindInt:
		return strconv.FormatInt(v.I, 10)
	case KindFloat:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case kindF32:
		return strconv.FormatFloat(v.F, 'g', -1, 32)
	case KindBool:
		return strconv.FormatBool(v.B)
	}
	return ""
}

// number returns a numeric value as a float64, NaN for other kinds.
func (v Value) number() float64 {
	switch v.Kind {
	case KindFloat, kindF32:
		return v.F
	case KindInt:
		return float64(v.I)
	case KindBool:
		if v.B {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Plan says which input columns a run reads: the model's features, in the
// model's order, and the kept columns (id first), in output order.
type Plan struct {
	// Features are the model's feature names.
	Features []string
	// AllowMissing says whether a missing value (empty, NA, null) is
	// passed to the model as NaN; otherwise the row is rejected.
	AllowMissing bool
	// Keep are the columns copied to the output.
	Keep []string
}

// Frame is one decoded chunk: the feature matrix of its rows and their kept
// values. Rows that could not be decoded have a reason in Err and their
// features are not scored.
type Frame struct {
	// Rows is the number of rows in the chunk.
	Rows int
	// Lines holds each row's line number in a text file, or its row number
	// (from 1) in a Parquet file.
	Lines []int64
	// X is the Rows x len(Plan.Features) feature matrix, row-major; NaN is
	// a missing value.
	X []float32
	// Kept holds the kept values, one slice per kept column.
	Kept [][]Value
	// Err holds a reason for each row that cannot be scored; nil when
	// every row decoded.
	Err []string
	nf  int
	// text holds kept CSV text (keepText) until the next reset.
	text []byte
}

// reset prepares f for a chunk of a plan with nf features and nk kept columns.
func (f *Frame) reset(nf, nk int) {
	f.Rows, f.nf = 0, nf
	f.Lines = f.Lines[:0]
	f.X = f.X[:0]
	if len(f.Kept) != nk {
		f.Kept = make([][]Value, nk)
	}
	for i := range f.Kept {
		f.Kept[i] = f.Kept[i][:0]
	}
	f.Err = f.Err[:0]
	f.text = f.text[:0]
}

// keepText returns b as a string in the frame's own text buffer, valid
// until the frame is reset. A chunk's kept text then sits together in
// memory: the output reads it after the model has run, when the chunk's
// bytes have left the caches.
func (f *Frame) keepText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(f.text)+len(b) > cap(f.text) {
		// Strings already handed out keep the old buffer alive.
		f.text = make([]byte, 0, max(2*cap(f.text), 64<<10, len(b)))
	}
	at := len(f.text)
	f.text = append(f.text, b...)
	return unsafeString(f.text[at:])
}

// addRow appends a row with line number line and returns its features,
// filled with NaN, for the caller to set.
func (f *Frame) addRow(line int64) []float32 {
	x := f.addRowUnset(line)
	for i := range x {
		x[i] = nan32
	}
	return x
}

// addRowUnset is addRow for a caller that sets every feature of the row
// itself: the features hold whatever the frame's memory held.
func (f *Frame) addRowUnset(line int64) []float32 {
	f.Lines = append(f.Lines, line)
	n := len(f.X)
	if n+f.nf > cap(f.X) {
		f.X = slices.Grow(f.X, max(f.nf, n))
	}
	f.X = f.X[:n+f.nf]
	x := f.X[n : n+f.nf]
	for i := range f.Kept {
		f.Kept[i] = append(f.Kept[i], Value{})
	}
	if len(f.Err) > 0 {
		f.Err = append(f.Err, "")
	}
	f.Rows++
	return x
}

// reject marks the last row as not scorable.
func (f *Frame) reject(reason string) {
	if len(f.Err) == 0 {
		f.Err = make([]string, f.Rows, max(f.Rows, 64))
	}
	if f.Err[f.Rows-1] == "" {
		f.Err[f.Rows-1] = reason
	}
}

// rejected reports whether row i was rejected.
func (f *Frame) rejected(i int) bool { return len(f.Err) > 0 && f.Err[i] != "" }

var nan32 = float32(math.NaN())

// isMissingText reports whether a text cell stands for a missing value.
func isMissingText(s string) bool {
	switch s {
	case "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None":
		return true
	}
	return false
}

// parseFeature parses a text cell as a feature value, returning the reason
// when it cannot be used.
func parseFeature(s string, allowMissing bool, name string) (float32, string) {
	if isMissingText(s) {
		if allowMissing {
			return nan32, ""
		}
		return 0, "feature " + name + ": missing value, and the model does not accept missing values"
	}
	if v, ok := parseSimpleFloat(s); ok {
		return float32(v), ""
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		switch s {
		case "true", "TRUE", "True":
			return 1, ""
		case "false", "FALSE", "False":
			return 0, ""
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, "feature " + name + ": " + strconv.Quote(s) + " is out of range"
		}
		return 0, "feature " + name + ": " + strconv.Quote(truncate(s, 40)) + " is not a number"
	}
	if math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
		return 0, "feature " + name + ": " + strconv.Quote(s) + " is out of range"
	}
	return float32(v), ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// textValue is a kept value read from text: a string.
func textValue(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{Kind: KindString, S: s}
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseSimpleFloat parses the common decimal forms ("-12.5", "0.07871",
// "1.2e-05") when the result is exact in float64 arithmetic: a mantissa up
// to 2^53 and a power of ten up to 22, so one multiplication or division
// rounds correctly (Clinger's fast path, which strconv takes as well). ok
// is false for anything else; strconv.ParseFloat handles it.
func parseSimpleFloat(s string) (float64, bool) {
	i, n, neg := 0, len(s), false
	if n > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		i++
	}
	var mant uint64
	digits := 0
	for ; i < n; i++ {
		c := s[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
		digits++
	}
	exp := 0
	if i < n && s[i] == '.' {
		i++
		start := i
		for ; i < n; i++ {
			c := s[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
		exp = start - i
		digits += i - start
	}
	if digits == 0 || digits > 19 || mant > 1<<53 {
		return 0, false
	}
	if i < n {
		if s[i] != 'e' && s[i] != 'E' {
			return 0, false
		}
		e, ok := parseSmallInt(s[i+1:])
		if !ok {
			return 0, false
		}
		exp += e
	}
	f := float64(mant)
	switch {
	case mant == 0 || exp == 0:
	case exp > 0 && exp <= 22:
		f *= pow10[exp]
	case exp < 0 && exp >= -22:
		f /= pow10[-exp]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseSmallInt parses an exponent: optional sign, 1 to 3 digits.
func parseSmallInt(s string) (int, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
