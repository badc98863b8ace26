package linear

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// FormatV1 is the value of the "format" field of the format this package
// reads.
const FormatV1 = "sluice.linear/v1"

// formatPrefix starts the format field of every version of the format.
const formatPrefix = "sluice.linear/"

// spec is a decoded and validated sluice.linear/v1 document.
type spec struct {
	task     string // "regression", "binary" or "multiclass"
	link     string // "identity", "logit", "softmax" or "ovr"
	features []feature
	classes  []string
	// intercept[k] and coefficients[k] give score k.
	intercept    []float64
	coefficients [][]float64
	// means holds each feature's mean over the training data (the
	// optional "feature_means"), the baseline explanations measure from;
	// nil when absent.
	means []float64
}

type feature struct {
	name string
	typ  string
}

// fieldError is a problem at a JSON path.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func errorf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// The fields of a v1 document and whether each is required.
var topFields = map[string]bool{
	"format":        true,
	"task":          true,
	"link":          true,
	"features":      true,
	"classes":       false,
	"intercept":     true,
	"coefficients":  true,
	"feature_means": false,
	"metadata":      false,
}

// decode parses and validates a sluice.linear/v1 document.
func decode(doc []byte) (*spec, error) {
	if err := syntaxCheck(doc); err != nil {
		return nil, err
	}
	top, err := object(doc, "")
	if err != nil {
		return nil, err
	}
	// Check the format first: a document of another format or version
	// should say so rather than list fields it does not know.
	format, ok := top["format"]
	if !ok {
		return nil, errorf("format", "missing: want %q", FormatV1)
	}
	f, err := str(format, "format")
	if err != nil {
		return nil, err
	}
	if f != FormatV1 {
		return nil, errorf("format", "%q is not supported (want %q)", f, FormatV1)
	}
	for _, k := range sortedKeys(top) {
		if _, known := topFields[k]; !known {
			return nil, errorf(k, "unknown field (known: %s)", strings.Join(sortedKeys(topFields), ", "))
		}
	}
	for _, k := range sortedKeys(topFields) {
		if _, ok := top[k]; topFields[k] && !ok {
			return nil, errorf(k, "missing")
		}
	}

	s := &spec{}
	if s.task, err = str(top["task"], "task"); err != nil {
		return nil, err
	}
	if s.link, err = str(top["link"], "link"); err != nil {
		return nil, err
	}
	if err := s.decodeFeatures(top["features"]); err != nil {
		return nil, err
	}
	if raw, ok := top["classes"]; ok {
		if s.classes, err = strs(raw, "classes"); err != nil {
			return nil, err
		}
	}
	if s.intercept, err = numbers(top["intercept"], "intercept"); err != nil {
		return nil, err
	}
	rows, err := array(top["coefficients"], "coefficients")
	if err != nil {
		return nil, err
	}
	s.coefficients = make([][]float64, len(rows))
	for k, row := range rows {
		if s.coefficients[k], err = numbers(row, fmt.Sprintf("coefficients[%d]", k)); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["feature_means"]; ok {
		if s.means, err = numbers(raw, "feature_means"); err != nil {
			return nil, err
		}
		if len(s.means) != len(s.features) {
			return nil, errorf("feature_means", "has %d values, want %d (one per feature)", len(s.means), len(s.features))
		}
		for i, v := range s.means {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, errorf(fmt.Sprintf("feature_means[%d]", i), "must be finite")
			}
		}
	}
	if raw, ok := top["metadata"]; ok {
		md, err := object(raw, "metadata")
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(md) {
			if _, err := str(md[k], "metadata."+k); err != nil {
				return nil, err
			}
		}
	}
	return s, s.validate()
}

func (s *spec) decodeFeatures(raw json.RawMessage) error {
	items, err := array(raw, "features")
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return errorf("features", "must list at least one feature")
	}
	seen := make(map[string]int, len(items))
	for i, item := range items {
		path := fmt.Sprintf("features[%d]", i)
		obj, err := object(item, path)
		if err != nil {
			return err
		}
		for _, k := range sortedKeys(obj) {
			if k != "name" && k != "type" {
				return errorf(path+"."+k, "unknown field (known: name, type)")
			}
		}
		var f feature
		rawName, ok := obj["name"]
		if !ok {
			return errorf(path+".name", "missing")
		}
		if f.name, err = str(rawName, path+".name"); err != nil {
			return err
		}
		if f.name == "" {
			return errorf(path+".name", "must not be empty")
		}
		if j, dup := seen[f.name]; dup {
			return errorf(path+".name", "%q is also features[%d].name", f.name, j)
		}
		seen[f.name] = i
		f.typ = "float"
		if rawType, ok := obj["type"]; ok {
			if f.typ, err = str(rawType, path+".type"); err != nil {
				return err
			}
			switch f.typ {
			case "float", "int", "bool":
			case "categorical":
				return errorf(path+".type", `"categorical" is not supported: one-hot encode the categories into separate features`)
			default:
				return errorf(path+".type", "%q is not one of float, int, bool", f.typ)
			}
		}
		s.features = append(s.features, f)
	}
	return nil
}

// validate checks that the task, link, classes and array shapes agree.
func (s *spec) validate() error {
	var scores int // rows of coefficients the task needs
	switch s.task {
	case "regression":
		if s.link != "identity" {
			return errorf("link", "%q does not apply to task regression (want identity)", s.link)
		}
		if s.classes != nil {
			return errorf("classes", "must be absent for task regression")
		}
		scores = 1
	case "binary":
		if s.link != "logit" {
			return errorf("link", "%q does not apply to task binary (want logit)", s.link)
		}
		if len(s.classes) != 2 {
			return errorf("classes", "has %d classes, task binary needs 2 (negative class first)", len(s.classes))
		}
		scores = 1
	case "multiclass":
		if s.link != "softmax" && s.link != "ovr" {
			return errorf("link", "%q does not apply to task multiclass (want softmax or ovr)", s.link)
		}
		if len(s.classes) < 2 {
			return errorf("classes", "has %d classes, task multiclass needs at least 2", len(s.classes))
		}
		scores = len(s.classes)
	default:
		return errorf("task", "%q is not one of regression, binary, multiclass", s.task)
	}
	seen := make(map[string]int, len(s.classes))
	for i, c := range s.classes {
		if c == "" {
			return errorf(fmt.Sprintf("classes[%d]", i), "must not be empty")
		}
		if j, dup := seen[c]; dup {
			return errorf(fmt.Sprintf("classes[%d]", i), "%q is also classes[%d]", c, j)
		}
		seen[c] = i
	}
	if len(s.intercept) != scores {
		return errorf("intercept", "has %d values, task %s with %d class(es) needs %d", len(s.intercept), s.task, len(s.classes), scores)
	}
	if len(s.coefficients) != scores {
		return errorf("coefficients", "has %d rows, task %s with %d class(es) needs %d", len(s.coefficients), s.task, len(s.classes), scores)
	}
	for k, row := range s.coefficients {
		if len(row) != len(s.features) {
			return errorf(fmt.Sprintf("coefficients[%d]", k), "has %d values, want %d (one per feature)", len(row), len(s.features))
		}
	}
	return nil
}

// syntaxCheck reports a JSON syntax error with its line and column.
func syntaxCheck(doc []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	err := dec.Decode(&v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			return errors.New("trailing data after the JSON document")
		}
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(doc, se.Offset)
		return fmt.Errorf("line %d, column %d: %v", line, col, err)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("not a JSON document: unexpected end of input")
	}
	return err
}

// position converts a byte offset to a 1-based line and column.
func position(doc []byte, offset int64) (line, col int) {
	if offset > int64(len(doc)) {
		offset = int64(len(doc))
	}
	before := doc[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// object decodes a JSON object into its raw members, refusing repeated
// keys.
func object(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errorf(orRoot(path), "want an object, got %s", kind(raw))
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errorf(orRoot(path), "%v", err)
		}
		key := tok.(string) // object keys are strings in valid JSON
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(join(path, key), "%v", err)
		}
		if _, dup := m[key]; dup {
			return nil, errorf(join(path, key), "appears twice")
		}
		m[key] = v
	}
	return m, nil
}

// array decodes a JSON array into its raw elements.
func array(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	if kind(raw) != "an array" {
		return nil, errorf(path, "want an array, got %s", kind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errorf(path, "%v", err)
	}
	return items, nil
}

// numbers decodes an array of finite numbers.
func numbers(raw json.RawMessage, path string) ([]float64, error) {
	items, err := array(raw, path)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(items))
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		if kind(item) != "a number" {
			return nil, errorf(p, "want a number, got %s", kind(item))
		}
		v, err := strconv.ParseFloat(string(bytes.TrimSpace(item)), 64)
		if err != nil || math.IsInf(v, 0) {
			return nil, errorf(p, "%s is out of the float64 range", bytes.TrimSpace(item))
		}
		out[i] = v
	}
	return out, nil
}

// str decodes a JSON string.
func str(raw json.RawMessage, path string) (string, error) {
	if kind(raw) != "a string" {
		return "", errorf(path, "want a string, got %s", kind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(path, "%v", err)
	}
	return s, nil
}

// strs decodes an array of strings.
func strs(raw json.RawMessage, path string) ([]string, error) {
	items, err := array(raw, path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, item := range items {
		if out[i], err = str(item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// kind names the JSON type of a raw value for error messages.
func kind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch c := b[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid JSON"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
