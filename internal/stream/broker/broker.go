// Package broker connects Sluice's stream pipelines to message brokers:
// NATS JetStream, Kafka and MQTT (3.1.1 and 5). A Source reads messages
// and acknowledges them only when told to, after their results are safe;
// a Sink publishes records and returns only when the broker has accepted
// them. Together they give at-least-once delivery: a crash between the
// two replays messages, it never skips one.
//
// Connectors are chosen by the URL's scheme in OpenSource and OpenSink,
// the one place that maps a scheme to its implementation; an unknown
// scheme is an error, never a silent default.
//
//	nats://host:4222/subject          JetStream; ?stream=NAME picks the stream
//	kafka://host:9092,host2:9092/topic
//	mqtt://host:1883/topic            MQTT 3.1.1, QoS 1, persistent session
//	mqtt5://host:1883/topic           MQTT 5, QoS 1, persistent session
package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Message is one message read from a Source.
type Message struct {
	// Key is the message key (Kafka key, the NATS header Sluice-Key, the
	// MQTT 5 user property key); nil when the message has none.
	Key []byte
	// Value is the payload.
	Value []byte
	// Time is when the broker received the message; zero when unknown.
	Time time.Time
	// Topic is the subject or topic the message came from.
	Topic string
	// ID identifies the message's position in the broker ("stream:seq"
	// on NATS, "topic/partition/offset" on Kafka); "" on MQTT, which has
	// none.
	ID string
	// Redelivered is true when the broker says the message was delivered
	// before (it is a replay after a crash or a timeout).
	Redelivered bool

	ack any // the connector's handle for Ack
}

// Record is one message to publish.
type Record struct {
	// Key is the record key; it picks the Kafka partition and is sent as
	// the Sluice-Key header on NATS and a user property on MQTT 5.
	Key []byte
	// Value is the payload.
	Value []byte
	// ID identifies the record for de-duplication (the Nats-Msg-Id header
	// on NATS, a header on Kafka); "" for none.
	ID string
	// Headers are extra headers (Kafka, NATS) or user properties (MQTT 5).
	Headers map[string]string
}

// Source reads messages from a topic for one consumer group.
type Source interface {
	// Fetch returns up to max messages, waiting up to wait for the first.
	// It returns no messages and no error when none arrived in time.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// Ack acknowledges messages whose results the sink has accepted.
	// Messages are acknowledged in the order Fetch returned them; a batch
	// from one Fetch is acknowledged by one call.
	Ack(ctx context.Context, msgs []*Message) error
	// Lag is the number of messages waiting for this consumer as last
	// seen, or -1 when the broker does not tell.
	Lag() int64
	// Close releases the connection; unacknowledged messages are
	// delivered again later.
	Close() error
}

// Sink publishes records to a topic.
type Sink interface {
	// Publish sends records and returns when the broker has accepted every
	// one, or an error. After an error some records may have been
	// accepted; callers publish them again (at least once).
	Publish(ctx context.Context, recs []Record) error
	// Close releases the connection.
	Close() error
}

// Options configure a source or sink.
type Options struct {
	// Group names the consumer: the JetStream durable consumer, the Kafka
	// consumer group, the MQTT client id (its persistent session). Nodes
	// using the same group share the messages. Required for a Source.
	Group string
	// ClientID names the connection for the broker's logs.
	ClientID string
	// InFlight bounds the messages delivered but not acknowledged (MQTT
	// receive maximum, JetStream max ack pending). 0 means 1024.
	InFlight int
	// AckWait is how long the broker waits for an ack before delivering a
	// message again (JetStream). 0 means 30s.
	AckWait time.Duration
}

func (o *Options) defaults() {
	if o.InFlight <= 0 {
		o.InFlight = 1024
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.ClientID == "" {
		o.ClientID = "sluice"
	}
}

// ErrUnknownScheme is returned for a URL whose scheme no connector serves.
var ErrUnknownScheme = errors.New("unknown broker scheme")

// Address is a parsed broker URL.
type Address struct {
	// Scheme is nats, kafka, mqtt or mqtt5.
	Scheme string
	// Hosts are the broker addresses (host:port), at least one.
	Hosts []string
	// Topic is the subject or topic, from the path (MQTT topics may hold
	// slashes).
	Topic string
	// Query holds the connector options (e.g. stream=NAME for NATS).
	Query url.Values
	// User and Password are from the URL's userinfo.
	User, Password string
}

// Schemes lists the schemes OpenSource and OpenSink take.
var Schemes = []string{"nats", "kafka", "mqtt", "mqtt5"}

var defaultPorts = map[string]string{"nats": "4222", "kafka": "9092", "mqtt": "1883", "mqtt5": "1883"}

// Parse checks a broker URL and splits it into an Address.
func Parse(raw string) (Address, error) {
	// A host list (a:9092,b:9092) is not a URL host; parse with the first
	// host and take the list from the raw text.
	hosts := ""
	parseable := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		hosts = rest[:end]
		if at := strings.LastIndex(hosts, "@"); at >= 0 {
			hosts = hosts[at+1:]
		}
		if first, _, many := strings.Cut(hosts, ","); many {
			parseable = raw[:i+3] + strings.Replace(rest[:end], hosts, first, 1) + rest[end:]
		}
	}
	u, err := url.Parse(parseable)
	if err != nil {
		return Address{}, fmt.Errorf("broker URL %q: %w", raw, err)
	}
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return Address{}, fmt.Errorf("broker URL %q: %w %q (want one of %s)", raw, ErrUnknownScheme, u.Scheme, strings.Join(Schemes, ", "))
	}
	a := Address{Scheme: u.Scheme, Query: u.Query(), Topic: strings.TrimPrefix(u.Path, "/")}
	if (u.Scheme == "mqtt" || u.Scheme == "mqtt5") && strings.Contains(raw, "#") {
		// "#" is MQTT's multi-level wildcard, not a URL fragment.
		a.Topic += "#" + u.Fragment
	}
	if u.User != nil {
		a.User = u.User.Username()
		a.Password, _ = u.User.Password()
	}
	if u.Host == "" {
		return Address{}, fmt.Errorf("broker URL %q: no host; write %s://HOST:%s/TOPIC", raw, u.Scheme, port)
	}
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return Address{}, fmt.Errorf("broker URL %q: empty host in the host list", raw)
		}
		if !strings.Contains(h, ":") {
			h += ":" + port
		}
		a.Hosts = append(a.Hosts, h)
	}
	if a.Topic == "" {
		return Address{}, fmt.Errorf("broker URL %q: no topic; write %s://%s/TOPIC", raw, u.Scheme, u.Host)
	}
	if a.Scheme != "mqtt" && a.Scheme != "mqtt5" && strings.Contains(a.Topic, "/") {
		return Address{}, fmt.Errorf("broker URL %q: topic %q: must not contain '/'", raw, a.Topic)
	}
	return a, nil
}

// OpenSource connects to the topic of raw for opts.Group.
func OpenSource(ctx context.Context, raw string, opts Options) (Source, error) {
	a, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if opts.Group == "" {
		return nil, fmt.Errorf("broker source %s: a consumer group is required", raw)
	}
	opts.defaults()
	switch a.Scheme {
	case "nats":
		return openNATSSource(ctx, a, opts)
	case "kafka":
		return openKafkaSource(ctx, a, opts)
	case "mqtt":
		return openMQTTSource(ctx, a, opts)
	case "mqtt5":
		return openMQTT5Source(ctx, a, opts)
	}
	return nil, fmt.Errorf("broker URL %q: %w %q", raw, ErrUnknownScheme, a.Scheme)
}

// OpenSink connects to the topic of raw for publishing.
func OpenSink(ctx context.Context, raw string, opts Options) (Sink, error) {
	a, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	opts.defaults()
	switch a.Scheme {
	case "nats":
		return openNATSSink(ctx, a, opts)
	case "kafka":
		return openKafkaSink(ctx, a, opts)
	case "mqtt":
		return openMQTTSink(ctx, a, opts)
	case "mqtt5":
		return openMQTT5Sink(ctx, a, opts)
	}
	return nil, fmt.Errorf("broker URL %q: %w %q", raw, ErrUnknownScheme, a.Scheme)
}

// sanitize keeps the characters broker names allow ([A-Za-z0-9_-]) and
// replaces the others by '_'.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
