package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/stream/brokertest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		raw     string
		want    Address
		wantErr string
	}{
		{raw: "nats://127.0.0.1:4222/orders", want: Address{Scheme: "nats", Hosts: []string{"127.0.0.1:4222"}, Topic: "orders"}},
		{raw: "nats://localhost/orders.eu", want: Address{Scheme: "nats", Hosts: []string{"localhost:4222"}, Topic: "orders.eu"}},
		{raw: "kafka://a:9092,b/tx", want: Address{Scheme: "kafka", Hosts: []string{"a:9092", "b:9092"}, Topic: "tx"}},
		{raw: "mqtt://h/sensors/+/temp", want: Address{Scheme: "mqtt", Hosts: []string{"h:1883"}, Topic: "sensors/+/temp"}},
		{raw: "mqtt5://h:1884/plant/#", want: Address{Scheme: "mqtt5", Hosts: []string{"h:1884"}, Topic: "plant/#"}},
		{raw: "amqp://h/q", wantErr: "unknown broker scheme"},
		{raw: "nats:///orders", wantErr: "no host"},
		{raw: "kafka://h:9092", wantErr: "no topic"},
		{raw: "kafka://h:9092/a/b", wantErr: "must not contain '/'"},
		{raw: "kafka://,h/t", wantErr: "no host"}, {raw: "kafka://h,,g/t", wantErr: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := Parse(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Scheme != tt.want.Scheme || got.Topic != tt.want.Topic || fmt.Sprint(got.Hosts) != fmt.Sprint(tt.want.Hosts) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
	if _, err := OpenSource(context.Background(), "redis://h/x", Options{Group: "g"}); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("OpenSource(redis) error = %v, want ErrUnknownScheme", err)
	}
}

// TestConnectors runs the same at-least-once scenario on every connector:
// publish, consume and acknowledge half, close, reopen the group, and the
// unacknowledged half (only it) comes back.
func TestConnectors(t *testing.T) {
	for _, scheme := range []string{"nats", "kafka", "mqtt", "mqtt5"} {
		t.Run(scheme, func(t *testing.T) {
			url := brokertest.URL(t, scheme, "conformance")
			testAtLeastOnce(t, url)
		})
	}
}

func testAtLeastOnce(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := Options{Group: "test-" + strconv.FormatInt(time.Now().UnixNano(), 36), AckWait: time.Second, InFlight: 64}
	src, err := OpenSource(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := OpenSink(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	const n = 10
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i)), ID: "id-" + strconv.Itoa(i)}
	}
	if err := sink.Publish(ctx, recs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := fetchN(ctx, t, src, n)
	// Kafka spreads the keys over partitions, so the order holds per
	// partition only; the first half by value is a prefix of each.
	var first, second []*Message
	seen := map[string]bool{}
	for _, m := range got {
		v, err := strconv.Atoi(string(m.Value))
		if err != nil || seen[string(m.Value)] {
			t.Fatalf("unexpected message %q", m.Value)
		}
		seen[string(m.Value)] = true
		if string(m.Key) != "k"+string(m.Value) && !strings.HasPrefix(url, "mqtt:") {
			t.Errorf("message %q has key %q, want %q", m.Value, m.Key, "k"+string(m.Value))
		}
		if v < n/2 {
			first = append(first, m)
		} else {
			second = append(second, m)
		}
	}
	if err := src.Ack(ctx, first); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the acks reach the broker before the connection closes
	src.Close()

	src, err = OpenSource(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	again := fetchN(ctx, t, src, n-n/2)
	_ = second
	var vals []int
	for _, m := range again {
		v, _ := strconv.Atoi(string(m.Value))
		vals = append(vals, v)
	}
	sort.Ints(vals)
	if fmt.Sprint(vals) != "[5 6 7 8 9]" {
		t.Errorf("after reopening, got %v, want the unacknowledged [5 6 7 8 9]", vals)
	}
	if err := src.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
	if extra, _ := src.Fetch(ctx, 10, 1500*time.Millisecond); len(extra) > 0 {
		t.Errorf("after acknowledging everything, %d more messages arrived (first %q)", len(extra), extra[0].Value)
	}
}

func fetchN(ctx context.Context, t *testing.T, src Source, n int) []*Message {
	t.Helper()
	var got []*Message
	for len(got) < n {
		ms, err := src.Fetch(ctx, n-len(got), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("Fetch after %d messages: %v", len(got), err)
		}
		got = append(got, ms...)
	}
	return got
}
