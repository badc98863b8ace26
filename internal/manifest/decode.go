package manifest

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one document may expand to through
// aliases.
const maxNodes = 100_000

// FieldError is one problem with one field of a document.
type FieldError struct {
	// Path names the field from the document's root, e.g.
	// "spec.steps[2].setWeight"; empty for the document as a whole.
	Path string
	// Line is the field's line in the file, 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// walker converts a YAML node tree into a JSON-ready value shaped by a Go
// type, checking field names and scalar types on the way.
type walker struct {
	lines map[string]int
	nodes int
	// errs are the problems found so far; the walk goes on past a bad
	// field so that one run reports them all.
	errs []error
	// over is set when the node budget is spent: the walk stops.
	over bool
}

// keep records a field's problem and lets the walk go on, unless the
// node budget is spent.
func (w *walker) keep(err error) error {
	if w.over {
		return err
	}
	w.errs = append(w.errs, err)
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessage      = reflect.TypeFor[json.RawMessage]()
)

func (w *walker) fail(path string, n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// resolve follows an alias and counts the node against the budget.
func (w *walker) resolve(path string, n *yaml.Node) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, w.fail(path, n, "unknown alias")
		}
		n = n.Alias
	}
	if w.nodes++; w.nodes > maxNodes {
		w.over = true
		return nil, w.fail(path, n, "the document expands to more than %d nodes (excessive aliasing)", maxNodes)
	}
	return n, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!null":
			return "null"
		}
		return n.Value
	}
	return "a document"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// convert turns n into a value for encoding/json that decodes into t.
func (w *walker) convert(path string, n *yaml.Node, t reflect.Type) (any, error) {
	n, err := w.resolve(path, n)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if _, ok := w.lines[path]; !ok {
			w.lines[path] = n.Line
		}
	}
	if isNull(n) {
		return nil, nil
	}
	if t == rawMessage || t.Kind() == reflect.Interface {
		return w.generic(path, n)
	}
	pt := reflect.PointerTo(t)
	if t.Kind() != reflect.Pointer && (pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler)) {
		v, err := w.generic(path, n)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, w.fail(path, n, "%v", err)
		}
		if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
			return nil, w.fail(path, n, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return v, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.convert(path, n, t.Elem())
	case reflect.Struct:
		return w.object(path, n, t)
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil, w.fail(path, n, "expected a list, got %s", kindName(n))
		}
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := w.convert(fmt.Sprintf("%s[%d]", path, i), c, t.Elem())
			if err != nil {
				if err := w.keep(err); err != nil {
					return nil, err
				}
			}
			out = append(out, v)
		}
		return out, nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil, w.fail(path, n, "expected a mapping, got %s", kindName(n))
		}
		if t.Key().Kind() != reflect.String {
			return nil, w.fail(path, n, "unsupported map key type %s", t.Key())
		}
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := w.resolve(path, n.Content[i])
			if err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode {
				return nil, w.fail(path, k, "keys must be strings")
			}
			p := join(path, k.Value)
			if _, dup := out[k.Value]; dup {
				return nil, w.fail(p, k, "given twice")
			}
			w.lines[p] = k.Line
			v, err := w.convert(p, n.Content[i+1], t.Elem())
			if err != nil {
				if err := w.keep(err); err != nil {
					return nil, err
				}
			}
			out[k.Value] = v
		}
		return out, nil
	}
	return w.scalar(path, n, t)
}

// scalar converts a scalar node for a string, bool or number field.
func (w *walker) scalar(path string, n *yaml.Node, t reflect.Type) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, w.fail(path, n, "expected %s, got %s", typeName(t), kindName(n))
	}
	switch t.Kind() {
	case reflect.String:
		// A number or boolean written for a string field is taken as
		// written: `candidate: 3` means "3".
		return n.Value, nil
	case reflect.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			return nil, w.fail(path, n, "expected true or false, got %s", kindName(n))
		}
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var i int64
		if n.Tag != "!!int" || n.Decode(&i) != nil {
			return nil, w.fail(path, n, "expected a whole number, got %s", kindName(n))
		}
		if t.Kind() >= reflect.Uint && i < 0 {
			return nil, w.fail(path, n, "must not be negative, got %d", i)
		}
		return i, nil
	case reflect.Float32, reflect.Float64:
		var f float64
		if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
			return nil, w.fail(path, n, "expected a number, got %s", kindName(n))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, w.fail(path, n, "must be a finite number, got %s", n.Value)
		}
		return f, nil
	}
	return nil, w.fail(path, n, "unsupported field type %s", t)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a whole number"
}

// field is a struct field reachable by a JSON name.
type field struct {
	name string
	typ  reflect.Type
}

// fields lists t's JSON fields, flattening embedded structs as
// encoding/json does.
func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, fields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{name: name, typ: f.Type})
	}
	return out
}

// object converts a mapping node for a struct type.
func (w *walker) object(path string, n *yaml.Node, t reflect.Type) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, w.fail(path, n, "expected a mapping, got %s", kindName(n))
	}
	fs := fields(t)
	byName := make(map[string]reflect.Type, len(fs))
	for _, f := range fs {
		byName[f.name] = f.typ
	}
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := w.resolve(path, n.Content[i])
		if err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, w.fail(path, k, "keys must be field names")
		}
		p := join(path, k.Value)
		ft, ok := byName[k.Value]
		if !ok {
			w.keep(w.fail(p, k, "unknown field%s", suggest(k.Value, fs)))
			continue
		}
		if _, dup := out[k.Value]; dup {
			w.keep(w.fail(p, k, "given twice"))
			continue
		}
		w.lines[p] = k.Line
		v, err := w.convert(p, n.Content[i+1], ft)
		if err != nil {
			if err := w.keep(err); err != nil {
				return nil, err
			}
		}
		out[k.Value] = v
	}
	return out, nil
}

// suggest names the closest known field, or lists them.
func suggest(name string, fs []field) string {
	best, bestD := "", 1<<30
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
		if d := distance(strings.ToLower(name), strings.ToLower(f.name)); d < bestD {
			best, bestD = f.name, d
		}
	}
	if best != "" && bestD <= max(2, len(name)/4) {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// generic converts a node without a target type (free-form JSON).
func (w *walker) generic(path string, n *yaml.Node) (any, error) {
	n, err := w.resolve(path, n)
	if err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := w.resolve(path, n.Content[i])
			if err != nil {
				return nil, err
			}
			v, err := w.generic(join(path, k.Value), n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := w.generic(fmt.Sprintf("%s[%d]", path, i), c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return b, nil
			}
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
			}
		}
		return n.Value, nil
	}
	return nil, w.fail(path, n, "unsupported YAML node")
}

// decodeInto converts n for v's type and decodes it into v (a pointer).
func (w *walker) decodeInto(n *yaml.Node, v any) error {
	val, err := w.convert("", n, reflect.TypeOf(v).Elem())
	if err != nil {
		w.errs = append(w.errs, err)
	}
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}
	b, err := json.Marshal(val)
	if err != nil {
		return &FieldError{Msg: err.Error()}
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &FieldError{Path: te.Field, Line: w.lines[te.Field], Msg: "expected " + te.Type.String()}
		}
		return &FieldError{Msg: err.Error()}
	}
	return nil
}
