// Command stream measures streaming inference throughput on NATS
// JetStream: messages per second through a Sluice stream pipeline (JSON
// decode → breast_cancer XGBoost model via the gateway → JSON result →
// publish → ack) against the ceiling of the same broker path with no
// model (consume and republish each message as it is), in the same run.
//
//	go run ./bench/stream -n 100000 -rounds 3
//
// It needs a NATS server with JetStream (-nats, default 127.0.0.1:4222)
// and creates and deletes its own streams.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/stream"
	"github.com/sluicehq/sluice/internal/stream/broker"
	"github.com/sluicehq/sluice/internal/traffic"
)

func main() {
	addr := flag.String("nats", "127.0.0.1:4222", "NATS server")
	n := flag.Int("n", 100000, "messages per round")
	batch := flag.Int("batch", 256, "batch size (messages in flight) for both")
	rounds := flag.Int("rounds", 3, "rounds of each, interleaved")
	model := flag.String("model", "examples/xgboost/breast_cancer.json", "XGBoost model")
	data := flag.String("data", "examples/xgboost/breast_cancer.csv", "rows (CSV with a header)")
	flag.Parse()
	if err := run(*addr, *n, *batch, *rounds, *model, *data); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, n, batch, rounds int, modelPath, dataPath string) error {
	ctx := context.Background()
	msgs, err := loadRows(dataPath, n)
	if err != nil {
		return err
	}
	g, err := newGateway(modelPath)
	if err != nil {
		return err
	}
	base := "nats://" + addr + "/"
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	in := "sluicebench_" + tag + ".in"
	defer cleanup(addr, tag)
	fmt.Fprintf(os.Stderr, "publishing %d messages to %s\n", n, in)
	sink, err := broker.OpenSink(ctx, base+in, broker.Options{InFlight: 4096})
	if err != nil {
		return err
	}
	for i := 0; i < len(msgs); i += 1000 {
		recs := make([]broker.Record, 0, 1000)
		for _, m := range msgs[i:min(i+1000, len(msgs))] {
			recs = append(recs, broker.Record{Value: m})
		}
		if err := sink.Publish(ctx, recs); err != nil {
			return err
		}
	}
	sink.Close()
	var raw, sl []float64
	for r := 0; r < rounds; r++ {
		rate, err := ceiling(ctx, base+in, base+"sluicebench_"+tag+".raw"+strconv.Itoa(r), "raw-"+strconv.Itoa(r), n, batch)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		raw = append(raw, rate)
		rate, err = pipeline(ctx, g, base+in, base+"sluicebench_"+tag+".out"+strconv.Itoa(r), "pipe-"+strconv.Itoa(r), n, batch)
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		sl = append(sl, rate)
		fmt.Fprintf(os.Stderr, "round %d: ceiling %.0f msg/s, sluice %.0f msg/s (%.0f%%)\n", r+1, raw[r], sl[r], 100*sl[r]/raw[r])
	}
	// Rounds run back to back on a shared machine, so each round's ratio
	// (same minute, same load) is the figure; the table gives their median
	// and range.
	ratios := make([]float64, len(raw))
	for i := range raw {
		ratios[i] = sl[i] / raw[i]
	}
	lo, hi := ratios[0], ratios[0]
	for _, r := range ratios {
		lo, hi = min(lo, r), max(hi, r)
	}
	fmt.Printf("| messages × rounds | batch | ceiling msg/s (median) | Sluice msg/s (median) | ratio per round: median (range) |\n|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| %d × %d | %d | %.0f | %.0f | **%.0f%%** (%.0f–%.0f%%) |\n", n, rounds, batch, median(raw), median(sl), 100*median(ratios), 100*lo, 100*hi)
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// ceiling consumes the input and republishes every message unchanged,
// acknowledging after the publish, with the same connectors and batch size
// as the pipeline: the broker's rate with no decoding and no model.
func ceiling(ctx context.Context, in, out, group string, n, batch int) (float64, error) {
	src, err := broker.OpenSource(ctx, in, broker.Options{Group: group, InFlight: 2 * batch})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	sink, err := broker.OpenSink(ctx, out, broker.Options{InFlight: 2 * batch})
	if err != nil {
		return 0, err
	}
	defer sink.Close()
	done := 0
	start := time.Now()
	recs := make([]broker.Record, 0, batch)
	// Fetch one batch ahead, as the pipeline does.
	type fetched struct {
		ms  []*broker.Message
		err error
	}
	ahead := make(chan fetched)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for fctx.Err() == nil {
			ms, err := src.Fetch(fctx, batch, time.Second)
			select {
			case ahead <- fetched{ms, err}:
			case <-fctx.Done():
				return
			}
		}
	}()
	for done < n {
		f := <-ahead
		ms, err := f.ms, f.err
		if err != nil {
			return 0, err
		}
		recs = recs[:0]
		for _, m := range ms {
			recs = append(recs, broker.Record{Key: m.Key, Value: m.Value, ID: m.ID})
		}
		if err := sink.Publish(ctx, recs); err != nil {
			return 0, err
		}
		if err := src.Ack(ctx, ms); err != nil {
			return 0, err
		}
		done += len(ms)
	}
	return float64(done) / time.Since(start).Seconds(), nil
}

// pipeline runs a Sluice stream pipeline until n results are out.
func pipeline(ctx context.Context, g *gateway.Gateway, in, out, name string, n, batch int) (float64, error) {
	p, err := stream.New(stream.Options{Name: name, Spec: stream.Spec{Source: in, Sink: out, Endpoint: "bc", IDField: "id", BatchSize: batch},
		Scorer: stream.EndpointScorer{Gateway: g, Endpoint: "bc"}})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- p.Run(ctx) }()
	for {
		st := p.Stats()
		if int(st.Out+st.DeadLettered) >= n {
			el := time.Since(start)
			if st.DeadLettered > 0 {
				return 0, fmt.Errorf("%d dead letters: %s", st.DeadLettered, st.LastError)
			}
			cancel()
			<-errc
			return float64(n) / el.Seconds(), nil
		}
		select {
		case err := <-errc:
			return 0, err
		case <-time.After(time.Millisecond):
		}
	}
}

func newGateway(path string) (*gateway.Gateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := xgboost.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		return nil, err
	}
	g := gateway.New(gateway.Options{})
	g.Swap(&gateway.Snapshot{Revision: 1, Endpoints: map[string]*gateway.Endpoint{
		"bc": {Name: "bc", Model: "bc", Plan: traffic.Single(1), Backends: map[int]*gateway.Backend{1: gateway.NewBackend("bc", 1, "xgboost", m, nil)}},
	}})
	return g, nil
}

// loadRows makes n JSON messages from the CSV rows, each with an id.
func loadRows(path string, n int) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	cols := strings.Split(lines[0], ",")
	var rows []map[string]any
	for _, l := range lines[1:] {
		r := map[string]any{}
		for j, v := range strings.Split(l, ",") {
			x, _ := strconv.ParseFloat(v, 64)
			r[cols[j]] = x
		}
		rows = append(rows, r)
	}
	out := make([][]byte, n)
	for i := range out {
		r := rows[i%len(rows)]
		r["id"] = "m" + strconv.Itoa(i)
		out[i], _ = json.Marshal(r)
	}
	return out, nil
}

func cleanup(addr, tag string) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var drop []string
	names := js.StreamNames(ctx)
	for s := range names.Name() {
		if strings.Contains(s, tag) {
			drop = append(drop, s)
		}
	}
	for _, s := range drop {
		_ = js.DeleteStream(ctx, s)
	}
}
