package stream

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/stream/broker"
)

// BenchmarkPrepareScoreEncode measures the pipeline's own work per
// message (decode, rows, scoring through the gateway, result encoding),
// without a broker.
func BenchmarkPrepareScoreEncode(b *testing.B) {
	fx := loadFixture(b)
	g := newGateway(b, nil)
	p, err := New(Options{Name: "bench", Spec: Spec{Endpoint: "bc", IDField: "id"}, Scorer: EndpointScorer{Gateway: g, Endpoint: "bc"}})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*broker.Message, 256)
	for i := range msgs {
		r := fx.rows[i%len(fx.rows)]
		r["id"] = "m" + strconv.Itoa(i)
		v, _ := json.Marshal(r)
		msgs[i] = &broker.Message{Value: v, ID: strconv.Itoa(i)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec, _ := p.opts.Scorer.Features(ctx)
		items, rows := p.prepare(msgs, spec)
		res, err := p.opts.Scorer.Score(ctx, rows)
		if err != nil {
			b.Fatal(err)
		}
		for j := range items {
			_ = p.result(&items[j], &res[items[j].row])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
}
