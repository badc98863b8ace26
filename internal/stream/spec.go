package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/stream/broker"
)

// APIVersion and Kind of a Stream document.
const (
	APIVersion = "sluice.dev/v1"
	Kind       = "Stream"
)

// Document is a stream as written in a `kind: Stream` file and stored:
//
//	apiVersion: sluice.dev/v1
//	kind: Stream
//	metadata: {name: scores}
//	spec:
//	  source: nats://127.0.0.1:4222/transactions
//	  endpoint: fraud
//	  sink: nats://127.0.0.1:4222/scores
//	  deadLetter: nats://127.0.0.1:4222/scores.dlq
type Document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names a stream.
type Metadata struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Spec is what a stream pipeline does.
type Spec struct {
	// Source is the broker URL messages are read from (nats://, kafka://,
	// mqtt://, mqtt5://; see package broker).
	Source string `json:"source"`
	// Endpoint scores through an endpoint, with its traffic strategy
	// (canary weights, shadows, bandits apply per message). One of
	// Endpoint and Model.
	Endpoint string `json:"endpoint,omitempty"`
	// Model scores on one model version: "fraud" (the latest), "fraud@3"
	// or "fraud@production" (an alias, followed as it moves).
	Model string `json:"model,omitempty"`
	// Sink is the broker URL results are published to.
	Sink string `json:"sink"`
	// DeadLetter is the broker URL messages that cannot be decoded or
	// scored go to, with the reason. Without one such a message is
	// counted, logged and acknowledged.
	DeadLetter string `json:"deadLetter,omitempty"`
	// Decode says how a message becomes instances; omitted means JSON.
	Decode *Decode `json:"decode,omitempty"`
	// KeyField names the input field that is the message's key (copied to
	// the output, used for sticky routing and windows); omitted means the
	// broker's message key.
	KeyField string `json:"keyField,omitempty"`
	// IDField names the input field that identifies a message; the
	// output's request id is derived from it (or from the broker's
	// position of the message when omitted), so a replayed message gets
	// the same request id and consumers can drop duplicates.
	IDField string `json:"idField,omitempty"`
	// TimeField names the input field with the event time: RFC 3339, or
	// Unix seconds or milliseconds as a number. Omitted means the time
	// the broker received the message.
	TimeField string `json:"timeField,omitempty"`
	// Window adds aggregates over recent messages of the same key as
	// model inputs.
	Window *Window `json:"window,omitempty"`
	// BatchSize bounds the messages read at once and in flight; 0 means
	// 256.
	BatchSize int `json:"batchSize,omitempty"`
	// Paused stops the pipeline without deleting it; messages wait in
	// the broker.
	Paused bool `json:"paused,omitempty"`
}

// Decode describes the message format.
type Decode struct {
	// Format is "json" (a message is one JSON object: feature name →
	// value, or an array of such objects) or "csv" (a message holds one or
	// more lines of values in the order of Columns).
	Format string `json:"format"`
	// Columns name the CSV fields, in order.
	Columns []string `json:"columns,omitempty"`
	// Delimiter separates CSV fields; omitted means ",".
	Delimiter string `json:"delimiter,omitempty"`
}

// Window aggregates recent messages of one key into model inputs, such
// as the number of transactions of a card in the last 10 minutes.
type Window struct {
	// Type is "tumbling" (fixed windows of Size: [0, 10m), [10m, 20m),
	// ...) or "sliding" (the Size before each message's event time,
	// advancing by Slide).
	Type string `json:"type"`
	// Size is the window length, e.g. "10m".
	Size Duration `json:"size"`
	// Slide is the step of a sliding window (its resolution); omitted
	// means Size/10.
	Slide Duration `json:"slide,omitempty"`
	// AllowedLateness is how far behind the newest event time of its key
	// a message may be and still count; later messages go to the dead
	// letter sink. Omitted means 0.
	AllowedLateness Duration `json:"allowedLateness,omitempty"`
	// KeyBy names the field windows are kept per; omitted means the
	// message key (KeyField).
	KeyBy string `json:"keyBy,omitempty"`
	// Aggregates are computed per window and added to the instance.
	Aggregates []Aggregate `json:"aggregates"`
	// TTL drops the state of a key not seen for this long; omitted means
	// the window size plus the allowed lateness.
	TTL Duration `json:"ttl,omitempty"`
	// MaxKeys bounds the keys with state; the least recently seen go
	// first. Omitted means 100000.
	MaxKeys int `json:"maxKeys,omitempty"`
}

// Aggregate is one window aggregate.
type Aggregate struct {
	// Fn is count, sum, mean, min, max or last.
	Fn string `json:"fn"`
	// Field is the input field aggregated; not used by count.
	Field string `json:"field,omitempty"`
	// As is the name of the model input the aggregate becomes.
	As string `json:"as"`
}

// Duration is a time.Duration written as "30s" or "10m".
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a time.ParseDuration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration must be like \"30s\" or \"10m\": %q is not", s)
	}
	*d = Duration(v)
	return nil
}

// DefaultBatchSize is the batch size when Spec.BatchSize is 0.
const DefaultBatchSize = 256

// MaxBatchSize bounds Spec.BatchSize.
const MaxBatchSize = 10000

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Aggregate functions.
var aggregateFns = map[string]bool{"count": true, "sum": true, "mean": true, "min": true, "max": true, "last": true}

// Validate reports every problem of the document, each naming its field.
func (d *Document) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if d.APIVersion != APIVersion {
		add("apiVersion", "want %q, got %q", APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		add("kind", "want %q, got %q", Kind, d.Kind)
	}
	if !nameRE.MatchString(d.Metadata.Name) {
		add("metadata.name", "%q: want 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit", d.Metadata.Name)
	}
	s := &d.Spec
	checkURL := func(field, u string, required bool) {
		if u == "" {
			if required {
				add(field, "required: a broker URL such as nats://127.0.0.1:4222/subject")
			}
			return
		}
		if _, err := broker.Parse(u); err != nil {
			add(field, "%v", err)
		}
	}
	checkURL("spec.source", s.Source, true)
	checkURL("spec.sink", s.Sink, true)
	checkURL("spec.deadLetter", s.DeadLetter, false)
	switch {
	case s.Endpoint == "" && s.Model == "":
		add("spec", "give an endpoint or a model to score with")
	case s.Endpoint != "" && s.Model != "":
		add("spec", "give an endpoint or a model, not both")
	case s.Model != "":
		if _, _, err := ParseModelRef(s.Model); err != nil {
			add("spec.model", "%v", err)
		}
	}
	if s.Source != "" && (s.Source == s.Sink || s.Source == s.DeadLetter) {
		add("spec.sink", "must not be the source: results would be read back as input")
	}
	if s.BatchSize < 0 || s.BatchSize > MaxBatchSize {
		add("spec.batchSize", "must be 0..%d, got %d", MaxBatchSize, s.BatchSize)
	}
	if dec := s.Decode; dec != nil {
		switch dec.Format {
		case "json", "":
			if len(dec.Columns) > 0 {
				add("spec.decode.columns", "only for format csv")
			}
		case "csv":
			if len(dec.Columns) == 0 {
				add("spec.decode.columns", "required for format csv: the names of the fields in order")
			}
			seen := map[string]bool{}
			for i, c := range dec.Columns {
				if c == "" || seen[c] {
					add(fmt.Sprintf("spec.decode.columns[%d]", i), "empty or repeated name %q", c)
				}
				seen[c] = true
			}
			if len([]rune(dec.Delimiter)) > 1 || dec.Delimiter == "\"" || dec.Delimiter == "\n" {
				add("spec.decode.delimiter", "want one character other than a quote or newline, got %q", dec.Delimiter)
			}
		default:
			add("spec.decode.format", "want json or csv, got %q", dec.Format)
		}
	}
	if w := s.Window; w != nil {
		errs = append(errs, w.validate(s.KeyField)...)
	}
	return errors.Join(errs...)
}

func (w *Window) validate(keyField string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("spec.window.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch w.Type {
	case "tumbling":
		if w.Slide != 0 {
			add("slide", "only for sliding windows")
		}
	case "sliding":
		if w.Slide < 0 || (w.Slide > 0 && w.Slide > w.Size) {
			add("slide", "must be more than 0 and at most the size")
		}
		if w.Slide > 0 && w.Size > 0 && time.Duration(w.Size)/time.Duration(w.Slide) > 10000 {
			add("slide", "size/slide must be at most 10000")
		}
	default:
		add("type", "want tumbling or sliding, got %q", w.Type)
	}
	if w.Size <= 0 {
		add("size", "required: a duration such as \"10m\"")
	}
	if w.AllowedLateness < 0 {
		add("allowedLateness", "must not be negative")
	}
	if w.TTL < 0 {
		add("ttl", "must not be negative")
	}
	if w.MaxKeys < 0 {
		add("maxKeys", "must not be negative")
	}
	if w.KeyBy == "" && keyField == "" {
		// The broker key is used; fine, but say so nowhere: it is the default.
		_ = keyField
	}
	if len(w.Aggregates) == 0 {
		add("aggregates", "give at least one aggregate, e.g. {fn: count, as: tx_count_10m}")
	}
	names := map[string]bool{}
	for i, a := range w.Aggregates {
		p := fmt.Sprintf("aggregates[%d]", i)
		if !aggregateFns[a.Fn] {
			add(p+".fn", "want one of count, sum, mean, min, max, last, got %q", a.Fn)
		}
		if a.Fn != "count" && a.Field == "" {
			add(p+".field", "required for %s", a.Fn)
		}
		if a.As == "" {
			add(p+".as", "required: the model input the aggregate becomes")
		} else if names[a.As] {
			add(p+".as", "%q is given twice", a.As)
		}
		names[a.As] = true
	}
	return errs
}

// ParseModelRef splits "fraud", "fraud@3" or "fraud@production" into the
// model and the reference ("latest" when omitted).
func ParseModelRef(s string) (model, ref string, err error) {
	model, ref, _ = strings.Cut(s, "@")
	if model == "" {
		return "", "", fmt.Errorf("%q: want MODEL, MODEL@VERSION or MODEL@ALIAS", s)
	}
	if ref == "" {
		ref = "latest"
	}
	return model, ref, nil
}

// batchSize returns the effective batch size.
func (s *Spec) batchSize() int {
	if s.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return s.BatchSize
}
