package gateway

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/remote"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/monitor/tracing"
	"github.com/sluicehq/sluice/internal/oip/oippb"
	"github.com/sluicehq/sluice/internal/traffic"
)

// otlpReceiver is an OTLP/HTTP collector: it decodes the protobuf export
// requests the SDK's exporter posts to /v1/traces and keeps the spans.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	resource []*commonpb.KeyValue
	bad      []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		o.bad = append(o.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		o.bad = append(o.bad, "undecodable: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, rs := range req.ResourceSpans {
		o.resource = rs.GetResource().GetAttributes()
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// find returns the spans named name in trace tid.
func (o *otlpReceiver) find(tid []byte, name string) []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range o.spans {
		if s.Name == name && string(s.TraceId) == string(tid) {
			out = append(out, s)
		}
	}
	return out
}

func attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func wantAttrs(t *testing.T, s *tracepb.Span, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := attr(s.Attributes, k)
		if !ok {
			t.Errorf("span %s: no attribute %s", s.Name, k)
			continue
		}
		var got any
		switch x := v.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			got = x.StringValue
		case *commonpb.AnyValue_IntValue:
			got = x.IntValue
		case *commonpb.AnyValue_BoolValue:
			got = x.BoolValue
		}
		if got != w {
			t.Errorf("span %s: %s = %v (%T), want %v (%T)", s.Name, k, got, got, w, w)
		}
	}
}

// traceIDs returns a fixed W3C parent: trace id, span id and header.
func traceIDs(seed byte) (tid, sid []byte, header string) {
	tid, sid = make([]byte, 16), make([]byte, 8)
	for i := range tid {
		tid[i] = seed + byte(i)
	}
	for i := range sid {
		sid[i] = seed + 0x40 + byte(i)
	}
	return tid, sid, "00-" + hex.EncodeToString(tid) + "-" + hex.EncodeToString(sid) + "-01"
}

// TestTracing runs requests through a traced gateway exporting to a real
// OTLP/HTTP receiver and checks the spans: names, parents, attributes, and
// the traceparent sent on to an external model server.
func TestTracing(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	ctx := context.Background()
	tp, shutdown, err := tracing.Setup(ctx, tracing.Config{Endpoint: collector.URL, Version: "test"})
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	defer shutdown(ctx)

	// An external OIP model server that records the traceparent it gets.
	var extMu sync.Mutex
	var extParents []string
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		extMu.Lock()
		extParents = append(extParents, r.Header.Get("traceparent"))
		extMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model_name":"m","outputs":[{"name":"y","datatype":"FP64","shape":[1],"data":[0.5]}]}`)
	}))
	defer ext.Close()
	extDoc := remote.Document{URLs: []string{ext.URL + "/v2/models/m"}, Signature: &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "x", Datatype: inference.FP64, Shape: []int64{-1, 2}}},
		Outputs: []inference.TensorSpec{{Name: "y", Datatype: inference.FP64, Shape: []int64{-1}}},
	}}
	doc, err := extDoc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	extModel, err := remote.Format{}.Load(ctx, doc, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer extModel.(io.Closer).Close()

	data, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := xgboost.Format{}.Load(ctx, data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := traffic.Compile(traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 100}}, Shadow: []traffic.Shadow{{Version: 2, Percent: 100}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{Tracing: tp})
	g.Swap(&Snapshot{Revision: 1, Endpoints: map[string]*Endpoint{
		"bc": {Name: "bc", Model: "bc", Plan: plan, Backends: map[int]*Backend{
			1: NewBackend("bc", 1, "xgboost", bc, nil), 2: NewBackend("bc", 2, "xgboost", bc, nil),
		}},
		"ext": {Name: "ext", Model: "ext", Plan: traffic.Single(3), Backends: map[int]*Backend{3: NewBackend("ext", 3, "remote", extModel, nil)}},
	}})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go g.Run(runCtx)
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	gs := serveGRPC(t, g)

	// REST, with a caller's traceparent.
	tid, sid, parent := traceIDs(1)
	row := restJSON([]testTensor{{name: "input", datatype: inference.FP32, shape: []int64{1, 30}, values: csvRows(t, 1)[0]}})
	req, _ := http.NewRequest("POST", srv.URL+"/v2/models/bc/infer", strings.NewReader(row))
	req.Header.Set("traceparent", parent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("infer: %v %v", resp, err)
	}
	rid := resp.Header.Get(HeaderRequestID)
	resp.Body.Close()

	// gRPC, with traceparent in the metadata.
	gtid, gsid, gparent := traceIDs(2)
	ins, _ := grpcInputs(t, []testTensor{{name: "input", datatype: inference.FP32, shape: []int64{1, 30}, values: csvRows(t, 1)[0]}}, false)
	gctx := grpcmd.AppendToOutgoingContext(ctx, "traceparent", gparent)
	if _, err := gs.client.ModelInfer(gctx, &oippb.ModelInferRequest{ModelName: "bc", Inputs: ins}); err != nil {
		t.Fatal(err)
	}

	// The external server, through the plain JSON form.
	etid, _, eparent := traceIDs(3)
	req, _ = http.NewRequest("POST", srv.URL+"/v2/models/ext/infer", strings.NewReader(`{"inputs":[{"name":"x","datatype":"FP64","shape":[1,2],"data":[1,2]}]}`))
	req.Header.Set("traceparent", eparent)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("ext infer: %v %v %s", resp.StatusCode, err, b)
	}
	resp.Body.Close()

	// Spans arrive in batches; the shadow span after its copy is scored.
	sdk := tp.(*sdktrace.TracerProvider)
	deadline := time.Now().Add(10 * time.Second)
	for len(recv.find(tid, SpanShadow)) == 0 || len(recv.find(gtid, SpanShadow)) == 0 || len(recv.find(etid, SpanPredict)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spans did not arrive; receiver got %d spans, bad requests %v", len(recv.spans), recv.bad)
		}
		if err := sdk.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	one := func(tid []byte, name string) *tracepb.Span {
		t.Helper()
		s := recv.find(tid, name)
		if len(s) != 1 {
			t.Fatalf("%d spans named %q in the trace, want 1", len(s), name)
		}
		return s[0]
	}
	// REST: request ← caller; route, predict, shadow ← request.
	top := one(tid, "POST /v2/models/{name}/infer")
	if string(top.ParentSpanId) != string(sid) || top.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span: parent %x kind %v, want the caller's %x and server", top.ParentSpanId, top.Kind, sid)
	}
	wantAttrs(t, top, map[string]any{"sluice.endpoint": "bc", "http.response.status_code": int64(200), "sluice.request_id": rid, "http.request.method": "POST"})
	for _, c := range []struct {
		name  string
		attrs map[string]any
	}{
		{SpanRoute, map[string]any{"sluice.endpoint": "bc", "sluice.version": int64(1), "sluice.role": "stable", "sluice.pinned": false}},
		{SpanPredict, map[string]any{"sluice.endpoint": "bc", "sluice.model": "bc", "sluice.version": int64(1), "sluice.format": "xgboost", "sluice.rows": int64(1)}},
		{SpanShadow, map[string]any{"sluice.endpoint": "bc", "sluice.version": int64(2), "sluice.role": "shadow", "sluice.request_id": rid}},
	} {
		s := one(tid, c.name)
		if string(s.ParentSpanId) != string(top.SpanId) {
			t.Errorf("%s: parent %x, want the request span %x", c.name, s.ParentSpanId, top.SpanId)
		}
		wantAttrs(t, s, c.attrs)
	}
	// gRPC.
	gtop := one(gtid, SpanGRPCInfer)
	if string(gtop.ParentSpanId) != string(gsid) {
		t.Errorf("gRPC span: parent %x, want the caller's %x", gtop.ParentSpanId, gsid)
	}
	wantAttrs(t, gtop, map[string]any{"rpc.system": "grpc", "sluice.endpoint": "bc"})
	if p := one(gtid, SpanPredict); string(p.ParentSpanId) != string(gtop.SpanId) {
		t.Errorf("gRPC predict span: parent %x, want %x", p.ParentSpanId, gtop.SpanId)
	}
	// The external server got the predict span as its parent.
	ep := one(etid, SpanPredict)
	wantAttrs(t, ep, map[string]any{"sluice.format": "remote", "sluice.version": int64(3)})
	want := "00-" + hex.EncodeToString(etid) + "-" + hex.EncodeToString(ep.SpanId) + "-01"
	extMu.Lock()
	got := extParents
	extMu.Unlock()
	if len(got) != 1 || got[0] != want {
		t.Errorf("external server got traceparent %q, want %q", got, want)
	}
	if v, ok := attr(recv.resource, "service.name"); !ok || v.GetStringValue() != "sluice" {
		t.Errorf("resource service.name = %v, want sluice", v)
	}
}
