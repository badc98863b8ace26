package predlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/stream/broker"
)

// Config is the prediction log as written in Sluice's configuration:
//
//	redact: [email, ssn]
//	sinks:
//	  - name: local
//	    file: {dir: /var/lib/sluice/predictions, maxBytes: 10737418240}
//	  - name: lake
//	    sample: 0.1
//	    webhook: {url: "https://collector.example/predictions"}
//
// Zero fields take the defaults of Options, SinkOptions, FileOptions and
// WebhookOptions. Decode it strictly (unknown fields refused), then call
// Validate.
type Config struct {
	// Redact names the input features whose values are replaced in every
	// sink's records.
	Redact []string `json:"redact,omitempty"`
	// RedactKeyFile names a file holding a secret key; when given,
	// redacted values are replaced by keyed hashes (HMAC-SHA256) instead
	// of "[redacted]", so equal values can still be joined.
	RedactKeyFile string `json:"redactKeyFile,omitempty"`
	// DrainTimeout bounds how long shutdown waits for queued records.
	DrainTimeout Duration `json:"drainTimeout,omitempty"`
	// Seed is mixed into the sampling hash; nodes sharing it sample the
	// same requests.
	Seed uint64 `json:"seed,omitempty"`
	// Sinks receive the records; at least one.
	Sinks []SinkConfig `json:"sinks"`
}

// SinkConfig is one sink: exactly one of File and Webhook, with its
// sampling and queue.
type SinkConfig struct {
	// Name labels the sink's metrics; it defaults to the kind ("file",
	// "webhook") and must be unique.
	Name string `json:"name,omitempty"`
	// Sample is the share of requests logged, in (0, 1]; omitted means 1.
	Sample *float64 `json:"sample,omitempty"`
	// Required makes requests wait when the sink's queue is full instead
	// of dropping records.
	Required bool `json:"required,omitempty"`
	// QueueSize bounds the records waiting for the sink.
	QueueSize int `json:"queueSize,omitempty"`
	// BatchSize is the most records per write.
	BatchSize int `json:"batchSize,omitempty"`
	// FlushInterval bounds how long a record waits for its batch, e.g. "1s".
	FlushInterval Duration `json:"flushInterval,omitempty"`
	// File writes rotating segment files, which `sluice logs` reads.
	File *FileConfig `json:"file,omitempty"`
	// Webhook POSTs batches to a URL.
	Webhook *WebhookConfig `json:"webhook,omitempty"`
	// Topic publishes each record as a message to a broker topic.
	Topic *TopicConfig `json:"topic,omitempty"`
}

// TopicConfig configures a TopicSink.
type TopicConfig struct {
	// URL is the topic: nats://HOST:4222/SUBJECT, kafka://HOST:9092/TOPIC,
	// mqtt://HOST:1883/TOPIC or mqtt5://...
	URL string `json:"url"`
}

// FileConfig configures a FileSink.
type FileConfig struct {
	// Dir holds the segments; one sink per directory.
	Dir string `json:"dir"`
	// SegmentBytes is the size at which a segment is closed.
	SegmentBytes int64 `json:"segmentBytes,omitempty"`
	// SegmentAge is the age at which a segment is closed, e.g. "1h".
	SegmentAge Duration `json:"segmentAge,omitempty"`
	// MaxBytes bounds the total size of the segments.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// MaxAge is how long a segment is kept after its last write, e.g. "168h".
	MaxAge Duration `json:"maxAge,omitempty"`
}

// WebhookConfig configures a WebhookSink.
type WebhookConfig struct {
	// URL receives the batches.
	URL string `json:"url"`
	// Headers are sent with every request, e.g. Authorization.
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds each attempt, e.g. "5s".
	Timeout Duration `json:"timeout,omitempty"`
	// MaxAttempts bounds the attempts per batch, the first included.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// Backoff is the wait before the first retry, doubled for each next.
	Backoff Duration `json:"backoff,omitempty"`
}

// FieldError is one problem with one field of a Config.
type FieldError struct {
	// Path names the field from the Config's root, e.g.
	// "sinks[1].sample"; callers embedding the Config prefix it.
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in c, each a *FieldError, joined with
// errors.Join; nil when c is valid.
func (c *Config) Validate() error {
	var ps problems
	for i, name := range c.Redact {
		if name == "" {
			ps.add(fmt.Sprintf("redact[%d]", i), "empty feature name")
		}
	}
	if c.DrainTimeout < 0 {
		ps.add("drainTimeout", "must not be negative")
	}
	if len(c.Sinks) == 0 {
		ps.add("sinks", "give at least one sink")
	}
	names := map[string]int{}
	dirs := map[string]int{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		path := fmt.Sprintf("sinks[%d]", i)
		kinds := 0
		if s.File != nil {
			kinds++
			validateFile(&ps, path+".file", s.File)
			if s.File.Dir != "" {
				dir := filepath.Clean(s.File.Dir)
				if j, dup := dirs[dir]; dup {
					ps.add(path+".file.dir", "%q is also sinks[%d]'s: one sink per directory", s.File.Dir, j)
				}
				dirs[dir] = i
			}
		}
		if s.Webhook != nil {
			kinds++
			validateWebhook(&ps, path+".webhook", s.Webhook)
		}
		if s.Topic != nil {
			kinds++
			if _, err := broker.Parse(s.Topic.URL); err != nil {
				ps.add(path+".topic.url", "%v", err)
			}
		}
		if kinds != 1 {
			ps.add(path, "give exactly one of file, webhook or topic")
		}
		if name := s.name(); name != "" {
			if j, dup := names[name]; dup {
				ps.add(path+".name", "%q is also sinks[%d]'s; give each sink its own name", name, j)
			}
			names[name] = i
		}
		if s.Sample != nil && !(*s.Sample > 0 && *s.Sample <= 1) {
			ps.add(path+".sample", "must be more than 0 and at most 1, got %v (to log nothing, remove the sink)", *s.Sample)
		}
		if s.QueueSize < 0 {
			ps.add(path+".queueSize", "must not be negative")
		}
		if s.BatchSize < 0 {
			ps.add(path+".batchSize", "must not be negative")
		}
		if s.FlushInterval < 0 {
			ps.add(path+".flushInterval", "must not be negative")
		}
	}
	return errors.Join(ps...)
}

func validateFile(ps *problems, path string, f *FileConfig) {
	if f.Dir == "" {
		ps.add(path+".dir", "missing")
	}
	if f.SegmentBytes < 0 {
		ps.add(path+".segmentBytes", "must not be negative")
	}
	if f.SegmentAge < 0 {
		ps.add(path+".segmentAge", "must not be negative")
	}
	if f.MaxBytes < 0 {
		ps.add(path+".maxBytes", "must not be negative")
	}
	if f.MaxAge < 0 {
		ps.add(path+".maxAge", "must not be negative")
	}
	if f.MaxBytes > 0 && f.SegmentBytes > f.MaxBytes {
		ps.add(path+".maxBytes", "%d is less than segmentBytes %d", f.MaxBytes, f.SegmentBytes)
	}
}

func validateWebhook(ps *problems, path string, w *WebhookConfig) {
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add(path+".url", "want an http:// or https:// URL with a host, got %q", w.URL)
	}
	if w.Timeout < 0 {
		ps.add(path+".timeout", "must not be negative")
	}
	if w.MaxAttempts < 0 {
		ps.add(path+".maxAttempts", "must not be negative")
	}
	if w.Backoff < 0 {
		ps.add(path+".backoff", "must not be negative")
	}
}

// name returns the sink's name, or its kind when it has none.
func (s *SinkConfig) name() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.File != nil:
		return "file"
	case s.Webhook != nil:
		return "webhook"
	case s.Topic != nil:
		return "topic"
	}
	return ""
}

// Open validates c, reads the redaction key, opens the sinks and returns
// a Logger over them; call its Run. log receives the Logger's problems.
func Open(c *Config, log *slog.Logger) (*Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := Options{Redact: c.Redact, DrainTimeout: time.Duration(c.DrainTimeout), Seed: c.Seed, Log: log}
	if c.RedactKeyFile != "" {
		key, err := os.ReadFile(c.RedactKeyFile)
		if err != nil {
			return nil, fmt.Errorf("redactKeyFile: %w", err)
		}
		if key = bytes.TrimSpace(key); len(key) == 0 {
			return nil, fmt.Errorf("redactKeyFile: %s is empty", c.RedactKeyFile)
		}
		opts.RedactKey = key
	}
	var sinks []SinkOptions
	closeAll := func() {
		for _, s := range sinks {
			s.Sink.Close()
		}
	}
	for i := range c.Sinks {
		sc := &c.Sinks[i]
		sink, err := openSink(sc)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("sinks[%d]: %w", i, err)
		}
		so := SinkOptions{Name: sc.name(), Sink: sink, Required: sc.Required, QueueSize: sc.QueueSize, BatchSize: sc.BatchSize, FlushInterval: time.Duration(sc.FlushInterval)}
		if sc.Sample != nil {
			so.Sample = *sc.Sample
		}
		sinks = append(sinks, so)
	}
	l, err := New(opts, sinks...)
	if err != nil {
		closeAll()
		return nil, err
	}
	return l, nil
}

// openSink is the one place that maps a configured kind to its Sink; a
// Kafka or NATS sink is one more case.
func openSink(sc *SinkConfig) (Sink, error) {
	switch {
	case sc.File != nil:
		f := sc.File
		return NewFileSink(FileOptions{Dir: f.Dir, SegmentBytes: f.SegmentBytes, SegmentAge: time.Duration(f.SegmentAge), MaxBytes: f.MaxBytes, MaxAge: time.Duration(f.MaxAge)})
	case sc.Webhook != nil:
		w := sc.Webhook
		h := http.Header{}
		for k, v := range w.Headers {
			h.Set(k, v)
		}
		return NewWebhookSink(WebhookOptions{URL: w.URL, Header: h, Timeout: time.Duration(w.Timeout), MaxAttempts: w.MaxAttempts, Backoff: time.Duration(w.Backoff)})
	case sc.Topic != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return NewTopicSink(ctx, sc.Topic.URL)
	}
	return nil, errors.New("no sink kind given (file, webhook or topic)")
}

// Duration is a time.Duration written as a string such as "30s" or "1h"
// (time.ParseDuration syntax). Bare numbers are refused: the unit must be
// written.
type Duration time.Duration

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes d as its String form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a time.ParseDuration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration must be like \"30s\" or \"1h\": %q is not", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts a JSON string in time.ParseDuration syntax; null
// leaves d unchanged.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil || strings.TrimSpace(s) == "" {
		return fmt.Errorf("duration must be a string like \"30s\", got %s", b)
	}
	return d.UnmarshalText([]byte(s))
}
