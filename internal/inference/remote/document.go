package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
)

// FormatV1 is the value of the "format" field of the documents this
// package reads.
const FormatV1 = "sluice.remote/v1"

// formatPrefix starts the format field of every version of the document.
const formatPrefix = "sluice.remote/"

// Protocol is the wire protocol spoken to the model server.
type Protocol string

// The protocols a remote version can speak.
const (
	// V2 is the REST form of the Open Inference Protocol v2 (Triton,
	// KServe, MLServer): POST {url}/infer, GET {url} for metadata,
	// GET {url}/ready for readiness.
	V2 Protocol = "v2"
	// TFServing is TensorFlow Serving's REST API: POST {url}:predict with
	// {"instances": [...]}, GET {url} for the model's status.
	TFServing Protocol = "tfserving"
)

// Defaults for the optional fields of a document.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultHealthInterval = 10 * time.Second
)

// Bounds on durations, so a typo ("5ms" for "5s", "10h") is caught at
// push time rather than in production.
const (
	minTimeout        = time.Millisecond
	maxTimeout        = 10 * time.Minute
	minHealthInterval = 100 * time.Millisecond
	maxHealthInterval = time.Hour
)

// Document is the artifact of a remote version: where the model runs and
// how to reach it. The CLI writes it with Marshal; Load reads it with
// ParseDocument.
type Document struct {
	// URLs are the model's base URLs on each replica, http or https,
	// without query or fragment: for V2 the model's endpoint
	// (http://triton:8000/v2/models/fraud, optionally
	// .../versions/3), for TFServing http://tfs:8501/v1/models/fraud.
	// Several URLs are replicas of the same model.
	URLs []string
	// Protocol is V2 or TFServing; empty means V2.
	Protocol Protocol
	// Timeout bounds each Predict call, retry included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// HealthInterval is how often each replica's readiness is polled; 0
	// means DefaultHealthInterval.
	HealthInterval time.Duration
	// Signature describes the model's inputs and outputs. Optional for
	// V2, whose servers describe their models (GET {url}); required for
	// TFServing.
	Signature *inference.Signature
	// Headers are sent with every request, e.g. an Authorization header
	// the model server requires. They are stored in the artifact as they
	// are: do not put long-lived secrets here.
	Headers map[string]string
	// Pipeline, when 2 or more, lets up to that many calls made at the
	// same moment go out together on one connection (HTTP/1.1
	// pipelining) to a replica reached over plain http: fewer system
	// calls and wake-ups per call, at the price of the server answering
	// them one after the other. 0 or 1 sends each call on a connection
	// of its own. Every URL must be http when it is 2 or more.
	Pipeline int
}

// fieldError is a problem at a JSON path of the document.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func errorf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// topFields lists the members of a v1 document and whether each is
// required.
var topFields = map[string]bool{
	"format":          true,
	"urls":            true,
	"protocol":        false,
	"timeout":         false,
	"health_interval": false,
	"signature":       false,
	"headers":         false,
	"pipeline":        false,
}

// ParseDocument decodes and validates a sluice.remote/v1 document.
// Decoding is strict: unknown or repeated members are errors, and every
// error names the JSON path at fault. Defaults are filled in.
func ParseDocument(data []byte) (*Document, error) {
	top, err := object(data, "")
	if err != nil {
		return nil, err
	}
	// Check the format first: a document of another format or version
	// should say so rather than list members it does not know.
	raw, ok := top["format"]
	if !ok {
		return nil, errorf("format", "missing: want %q", FormatV1)
	}
	f, err := str(raw, "format")
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

	d := &Document{}
	items, err := array(top["urls"], "urls")
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		u, err := str(item, fmt.Sprintf("urls[%d]", i))
		if err != nil {
			return nil, err
		}
		d.URLs = append(d.URLs, u)
	}
	if raw, ok := top["protocol"]; ok {
		p, err := str(raw, "protocol")
		if err != nil {
			return nil, err
		}
		d.Protocol = Protocol(p)
	}
	if d.Timeout, err = duration(top, "timeout"); err != nil {
		return nil, err
	}
	if d.HealthInterval, err = duration(top, "health_interval"); err != nil {
		return nil, err
	}
	if raw, ok := top["signature"]; ok {
		if d.Signature, err = decodeSignature(raw, "signature"); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["headers"]; ok {
		h, err := object(raw, "headers")
		if err != nil {
			return nil, err
		}
		d.Headers = make(map[string]string, len(h))
		for _, k := range sortedKeys(h) {
			if d.Headers[k], err = str(h[k], "headers."+k); err != nil {
				return nil, err
			}
		}
	}
	if raw, ok := top["pipeline"]; ok {
		tok := string(bytes.TrimSpace(raw))
		v, err := strconv.Atoi(tok)
		if err != nil || v < 0 || v > maxPipeline {
			return nil, errorf("pipeline", "%s is not a whole number in 0..%d", tok, maxPipeline)
		}
		d.Pipeline = v
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	d.setDefaults()
	return d, nil
}

// duration reads an optional duration member written as "5s".
func duration(top map[string]json.RawMessage, key string) (time.Duration, error) {
	raw, ok := top[key]
	if !ok {
		return 0, nil
	}
	s, err := str(raw, key)
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errorf(key, "%q is not a duration like \"5s\" or \"250ms\"", s)
	}
	if v == 0 {
		return 0, errorf(key, "must be more than 0 (leave it out for the default)")
	}
	return v, nil
}

func (d *Document) setDefaults() {
	if d.Protocol == "" {
		d.Protocol = V2
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.HealthInterval == 0 {
		d.HealthInterval = DefaultHealthInterval
	}
	for i, u := range d.URLs {
		d.URLs[i] = strings.TrimRight(u, "/")
	}
}

// Validate reports the first problem in d, with its JSON path. Zero
// values of optional fields are valid: they mean the defaults.
func (d *Document) Validate() error {
	proto := d.Protocol
	switch proto {
	case "":
		proto = V2
	case V2, TFServing:
	default:
		return errorf("protocol", "%q is not one of %q, %q", d.Protocol, V2, TFServing)
	}
	if len(d.URLs) == 0 {
		return errorf("urls", "must list at least one URL")
	}
	seen := make(map[string]int, len(d.URLs))
	for i, u := range d.URLs {
		path := fmt.Sprintf("urls[%d]", i)
		if err := checkURL(u, proto); err != nil {
			return errorf(path, "%q: %s", u, err)
		}
		key := strings.TrimRight(u, "/")
		if j, dup := seen[key]; dup {
			return errorf(path, "%q is also urls[%d]", u, j)
		}
		seen[key] = i
	}
	if d.Timeout != 0 && (d.Timeout < minTimeout || d.Timeout > maxTimeout) {
		return errorf("timeout", "%s is outside %s..%s", d.Timeout, minTimeout, maxTimeout)
	}
	if d.HealthInterval != 0 && (d.HealthInterval < minHealthInterval || d.HealthInterval > maxHealthInterval) {
		return errorf("health_interval", "%s is outside %s..%s", d.HealthInterval, minHealthInterval, maxHealthInterval)
	}
	for _, k := range sortedKeys(d.Headers) {
		if err := checkHeader(k, d.Headers[k]); err != nil {
			return errorf("headers."+k, "%s", err)
		}
	}
	if d.Pipeline < 0 || d.Pipeline > maxPipeline {
		return errorf("pipeline", "%d is outside 0..%d", d.Pipeline, maxPipeline)
	}
	if d.Pipeline > 1 {
		for i, u := range d.URLs {
			if strings.HasPrefix(strings.ToLower(u), "https:") {
				return errorf("pipeline", "needs plain http replicas, and urls[%d] is https", i)
			}
		}
	}
	if d.Signature != nil {
		if err := d.Signature.Validate(); err != nil {
			return err // already names signature.inputs[i]...
		}
	}
	if proto == TFServing {
		if d.Signature == nil {
			return errorf("signature", "required for protocol %q: TensorFlow Serving's REST API does not describe tensors as the Open Inference Protocol does", TFServing)
		}
		if len(d.Signature.Inputs) != 1 {
			return errorf("signature.inputs", "has %d inputs; protocol %q sends one input as rows of \"instances\"", len(d.Signature.Inputs), TFServing)
		}
		if len(d.Signature.Outputs) != 1 {
			return errorf("signature.outputs", "has %d outputs; protocol %q reads one output from \"predictions\"", len(d.Signature.Outputs), TFServing)
		}
		if d.Signature.Inputs[0].Datatype == inference.BYTES {
			return errorf("signature.inputs[0].datatype", "BYTES is not supported with protocol %q", TFServing)
		}
	}
	return nil
}

// checkURL checks one model URL.
func checkURL(s string, proto Protocol) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not hold credentials; send them in headers")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	case proto == V2 && strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/infer"):
		return errors.New("give the model's URL, without /infer (Sluice adds it)")
	case proto == TFServing && strings.Contains(u.Path, ":"):
		return errors.New("give the model's URL, without :predict (Sluice adds it)")
	}
	return nil
}

// checkHeader checks a static header: a valid field name that Sluice does
// not set itself, and a value without control characters.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("header name must not be empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return fmt.Errorf("%q is not a valid header name", name)
		}
	}
	switch strings.ToLower(name) {
	case "host", "content-length", "content-type", "transfer-encoding", "connection", "te", "upgrade", "keep-alive", "accept-encoding":
		return fmt.Errorf("%s is set by Sluice", name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return errors.New("value holds a control character")
		}
	}
	return nil
}

// Marshal returns the document as the JSON artifact ParseDocument reads,
// after validating it.
func (d *Document) Marshal() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	type wire struct {
		Format         string               `json:"format"`
		URLs           []string             `json:"urls"`
		Protocol       Protocol             `json:"protocol,omitempty"`
		Timeout        string               `json:"timeout,omitempty"`
		HealthInterval string               `json:"health_interval,omitempty"`
		Signature      *inference.Signature `json:"signature,omitempty"`
		Headers        map[string]string    `json:"headers,omitempty"`
		Pipeline       int                  `json:"pipeline,omitempty"`
	}
	w := wire{Format: FormatV1, URLs: d.URLs, Protocol: d.Protocol, Signature: d.Signature, Headers: d.Headers, Pipeline: d.Pipeline}
	if d.Timeout != 0 {
		w.Timeout = d.Timeout.String()
	}
	if d.HealthInterval != 0 {
		w.HealthInterval = d.HealthInterval.String()
	}
	return json.MarshalIndent(w, "", "  ")
}

// detect reports whether artifact is a JSON object whose top-level
// "format" member names a version of this document (any version, so that
// Load can say which versions it supports).
func detect(artifact []byte) bool {
	trimmed := bytes.TrimSpace(artifact)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(trimmed, []byte(`"`+formatPrefix)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if tok == "format" {
			var f string
			return json.Unmarshal(v, &f) == nil && strings.HasPrefix(f, formatPrefix)
		}
	}
	return false
}

// object decodes a JSON object into its raw members, refusing repeated
// keys and trailing data. path "" is the whole document.
func object(raw []byte, path string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		if path == "" {
			if err := syntaxCheck(raw); err != nil {
				return nil, err
			}
		}
		return nil, errorf(orRoot(path), "want an object, got %s", kind(raw))
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxOr(raw, path, err)
		}
		key := tok.(string) // object keys are strings in valid JSON
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxOr(raw, join(path, key), err)
		}
		if _, dup := m[key]; dup {
			return nil, errorf(join(path, key), "appears twice")
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxOr(raw, path, err)
	}
	if path == "" {
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("trailing data after the JSON document")
		}
	}
	return m, nil
}

// syntaxOr reports a syntax error in the whole document with its line
// and column when raw is the document, or err at path.
func syntaxOr(raw []byte, path string, err error) error {
	if path == "" {
		if serr := syntaxCheck(raw); serr != nil {
			return serr
		}
	}
	return errorf(orRoot(path), "%v", err)
}

// syntaxCheck reports a JSON syntax error with its line and column.
func syntaxCheck(doc []byte) error {
	var v any
	err := json.Unmarshal(doc, &v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(doc, se.Offset)
		return fmt.Errorf("line %d, column %d: %v", line, col, err)
	}
	return fmt.Errorf("not a JSON document: %v", err)
}

// position converts a byte offset to a 1-based line and column.
func position(doc []byte, offset int64) (line, col int) {
	offset = min(offset, int64(len(doc)))
	before := doc[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
