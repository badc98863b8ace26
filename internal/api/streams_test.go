package api

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/stream"
)

func TestStreamRoutes(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := apiclient.New(srv.URL)
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushVersion(ctx, "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
		t.Fatal(err)
	}
	doc := stream.Document{Metadata: stream.Metadata{Name: "scores"}, Spec: stream.Spec{
		Source: "nats://127.0.0.1:4222/in", Model: "bc@1", Sink: "nats://127.0.0.1:4222/out"}}
	v, err := c.CreateStream(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	if v.Generation != 1 || v.Stream.Kind != stream.Kind || v.Stream.APIVersion != stream.APIVersion || v.Status != nil {
		t.Errorf("created %+v", v)
	}
	bad := []struct {
		name string
		mod  func(d *stream.Document)
		code string
		msg  string
	}{
		{"taken name", func(d *stream.Document) {}, apiclient.CodeAlreadyExists, `stream "scores"`},
		{"unknown endpoint", func(d *stream.Document) { d.Metadata.Name = "x"; d.Spec.Model, d.Spec.Endpoint = "", "nope" }, apiclient.CodeInvalid, `spec.endpoint: endpoint "nope" does not exist`},
		{"unknown model version", func(d *stream.Document) { d.Metadata.Name = "x"; d.Spec.Model = "bc@7" }, apiclient.CodeInvalid, "spec.model"},
		{"bad source", func(d *stream.Document) { d.Metadata.Name = "x"; d.Spec.Source = "amqp://h/q" }, apiclient.CodeInvalid, "spec.source"},
		{"bad window", func(d *stream.Document) {
			d.Metadata.Name = "x"
			d.Spec.Window = &stream.Window{Type: "hopping", Aggregates: []stream.Aggregate{{Fn: "count", As: "n"}}}
		}, apiclient.CodeInvalid, "spec.window.type"},
	}
	for _, tt := range bad {
		d := doc
		tt.mod(&d)
		_, err := c.CreateStream(ctx, d)
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
			t.Errorf("%s: error %v, want %s containing %q", tt.name, err, tt.code, tt.msg)
		}
	}
	if v, err = c.PauseStream(ctx, "scores"); err != nil || !v.Stream.Spec.Paused || v.Generation != 2 {
		t.Errorf("pause = %+v, %v", v, err)
	}
	if v, err = c.ResumeStream(ctx, "scores"); err != nil || v.Stream.Spec.Paused || v.Generation != 3 {
		t.Errorf("resume = %+v, %v", v, err)
	}
	doc.Spec.BatchSize = 64
	if v, err = c.UpdateStream(ctx, doc); err != nil || v.Stream.Spec.BatchSize != 64 || v.Generation != 4 {
		t.Errorf("update = %+v, %v", v, err)
	}
	if vs, err := c.ListStreams(ctx); err != nil || len(vs) != 1 {
		t.Errorf("list = %+v, %v", vs, err)
	}
	if err := c.DeleteStream(ctx, "scores"); err != nil {
		t.Fatal(err)
	}
	var ae *apiclient.Error
	if _, err := c.GetStream(ctx, "scores"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("get after delete: %v", err)
	}
}
