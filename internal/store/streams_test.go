package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

var streamTests = []conformanceTest{
	{"StreamLifecycle", testStreamLifecycle},
	{"StreamStateAndLease", testStreamStateAndLease},
}

func testStreamLifecycle(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	db.now = fakeClock()
	st, err := db.CreateStream(ctx, Stream{Name: "scores", Spec: spec(`{"spec":{"endpoint":"fraud"}}`), CreatedBy: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 1 {
		t.Errorf("generation = %d, want 1", st.Generation)
	}
	if _, err := db.CreateStream(ctx, Stream{Name: "scores", Spec: spec(`{}`)}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("second CreateStream error = %v, want ErrAlreadyExists", err)
	}
	if _, err := db.CreateStream(ctx, Stream{Name: "Bad!", Spec: spec(`{}`)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name error = %v, want ErrInvalid", err)
	}
	up, err := db.UpdateStream(ctx, "scores", "stream.pause", func(cur Stream) (json.RawMessage, error) {
		return spec(`{"spec":{"endpoint":"fraud","paused":true}}`), nil
	})
	if err != nil || up.Generation != 2 {
		t.Fatalf("UpdateStream = %+v, %v; want generation 2", up, err)
	}
	same, err := db.UpdateStream(ctx, "scores", "stream.pause", func(cur Stream) (json.RawMessage, error) { return cur.Spec, nil })
	if err != nil || same.Generation != 2 {
		t.Errorf("unchanged UpdateStream = %+v, %v; want generation 2 kept", same, err)
	}
	boom := errors.New("boom")
	if _, err := db.UpdateStream(ctx, "scores", "stream.update", func(Stream) (json.RawMessage, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateStream with a failing fn = %v", err)
	}
	if _, err := db.UpdateStream(ctx, "nope", "stream.update", func(c Stream) (json.RawMessage, error) { return c.Spec, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateStream of a missing stream = %v", err)
	}
	if _, err := db.CreateStream(ctx, Stream{Name: "alerts", Spec: spec(`{}`)}); err != nil {
		t.Fatal(err)
	}
	all, err := db.ListStreams(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "alerts" || all[1].Name != "scores" {
		t.Errorf("ListStreams = %+v, %v", all, err)
	}
	var actions []string
	if err := db.AuditEvents(ctx, AuditFilter{Object: "stream/scores"}, func(e audit.Event) error {
		actions = append(actions, e.Action)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(actions) != 2 {
		t.Errorf("audit actions %v, want create and pause", actions)
	}
	if err := db.DeleteStream(ctx, "scores"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetStream(ctx, "scores"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetStream after delete = %v", err)
	}
}

func testStreamStateAndLease(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx := context.Background()
	if err := db.SaveStreamState(ctx, "s", map[string][]byte{"a": []byte(`{"n":1}`), "b": []byte(`{"n":2}`)}, []byte(`{"seen":["x"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveStreamState(ctx, "s", map[string][]byte{"a": nil, "b": []byte(`{"n":3}`)}, []byte(`{"seen":["y"]}`)); err != nil {
		t.Fatal(err)
	}
	keys, meta, err := db.LoadStreamState(ctx, "s")
	if err != nil || len(keys) != 1 || string(keys["b"]) != `{"n":3}` || string(meta) != `{"seen":["y"]}` {
		t.Errorf("LoadStreamState = %q, %s, %v", keys, meta, err)
	}
	if keys, meta, err := db.LoadStreamState(ctx, "other"); err != nil || len(keys) != 0 || meta != nil {
		t.Errorf("LoadStreamState of a fresh stream = %v, %s, %v", keys, meta, err)
	}
	if ok, err := db.AcquireStreamLease(ctx, "s", "node-a", time.Minute); !ok || err != nil {
		t.Fatalf("first lease: %v, %v", ok, err)
	}
	if ok, _ := db.AcquireStreamLease(ctx, "s", "node-b", time.Minute); ok {
		t.Error("node-b got a lease node-a holds")
	}
	if ok, _ := db.AcquireStreamLease(ctx, "s", "node-a", time.Minute); !ok {
		t.Error("node-a could not renew its lease")
	}
	if err := db.ReleaseStreamLease(ctx, "s", "node-a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.AcquireStreamLease(ctx, "s", "node-b", -time.Second); !ok {
		t.Error("node-b could not take a released lease")
	}
	if ok, _ := db.AcquireStreamLease(ctx, "s", "node-a", time.Minute); !ok {
		t.Error("node-a could not take an expired lease")
	}
}
