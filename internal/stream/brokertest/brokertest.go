// Package brokertest gives tests a broker URL with a topic of their own:
// the NATS server and the Mosquitto broker running on this machine
// (SLUICE_TEST_NATS, SLUICE_TEST_MQTT; defaults 127.0.0.1:4222 and
// 127.0.0.1:1883), or an in-process Kafka cluster (franz-go's kfake).
//
// Without a reachable broker the test is skipped locally and fails when
// the CI environment variable is set, where the brokers must be present.
package brokertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
)

var seq atomic.Int64

// Addr returns the host:port of the broker for scheme, skipping (or, in
// CI, failing) t when it does not answer. Kafka has none: use URL.
func Addr(t testing.TB, scheme string) string {
	t.Helper()
	env, addr := "", ""
	switch scheme {
	case "nats":
		env, addr = "SLUICE_TEST_NATS", "127.0.0.1:4222"
	case "mqtt", "mqtt5":
		env, addr = "SLUICE_TEST_MQTT", "127.0.0.1:1883"
	default:
		t.Fatalf("brokertest: no shared broker for %q", scheme)
	}
	if v := os.Getenv(env); v != "" {
		addr = v
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the %s broker is required in CI at %s (set %s to change it): %v", scheme, addr, env, err)
		}
		t.Skipf("no %s broker at %s (set %s): %v", scheme, addr, env, err)
	}
	c.Close()
	if scheme == "nats" {
		t.Cleanup(func() { dropTestStreams(addr) })
	}
	return addr
}

// dropTestStreams deletes the JetStream streams this process's tests
// created (their names hold "sluicetest_" and "_PID_").
func dropTestStreams(addr string) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mark := fmt.Sprintf("_%d_", os.Getpid())
	names := js.StreamNames(ctx)
	var drop []string
	for n := range names.Name() {
		if strings.Contains(n, "sluicetest_") && strings.Contains(n, mark) {
			drop = append(drop, n)
		}
	}
	for _, n := range drop {
		_ = js.DeleteStream(ctx, n)
	}
}

// Kafka starts an in-process Kafka cluster for t and returns its address.
func Kafka(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// Topic returns a topic name unique to this test process and call.
func Topic(t testing.TB, name string) string {
	r := strings.NewReplacer("/", "_", " ", "_", "#", "_")
	return fmt.Sprintf("sluicetest_%s_%d_%d_%d", r.Replace(name), os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
}

// URL returns a broker URL for scheme with a fresh topic.
func URL(t testing.TB, scheme, name string) string {
	t.Helper()
	topic := Topic(t, name)
	switch scheme {
	case "kafka":
		return "kafka://" + Kafka(t) + "/" + topic
	case "mqtt", "mqtt5":
		return scheme + "://" + Addr(t, scheme) + "/sluicetest/" + topic
	default:
		return scheme + "://" + Addr(t, scheme) + "/" + topic
	}
}
