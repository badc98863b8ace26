package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/store"
)

func newService(t *testing.T) (*Service, *gateway.Gateway) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, blobs, inference.NewFormats(xgboost.Format{}), Options{})
	gw := gateway.New(gateway.Options{})
	s.Attach(gw)
	return s, gw
}

func readModel(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "xgboost", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPushRefusesBadFilesAndWritesNothing(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	good := readModel(t, "breast_cancer.json")
	tests := []struct {
		name    string
		req     PushRequest
		wantErr error
	}{
		{"empty", PushRequest{Model: "m"}, ErrInvalid},
		{"truncated", PushRequest{Model: "m", Artifact: good[:len(good)/2]}, inference.ErrInvalidModel},
		{"undetectable", PushRequest{Model: "m", Artifact: []byte("hello")}, inference.ErrUndetectable},
		{"unknown format", PushRequest{Model: "m", Format: "pickle", Artifact: good}, inference.ErrUnknownFormat},
		{"bad name", PushRequest{Model: "Bad Name", Artifact: good}, store.ErrInvalid},
		{"bad threads", PushRequest{Model: "m", Artifact: good, Params: map[string]string{"threads": "many"}}, ErrInvalid},
		{"signature with wrong feature count", PushRequest{Model: "m", Artifact: good, Signature: &inference.Signature{
			Inputs: []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Shape: []int64{-1, 2}, Features: []inference.Feature{{Name: "a"}, {Name: "b"}}}},
		}}, inference.ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Push(ctx, tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Push error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if ms, err := s.Store().ListModels(ctx); err != nil || len(ms) != 0 {
		t.Errorf("after failed pushes: models = %v, %v; want none", ms, err)
	}
	v, err := s.Push(ctx, PushRequest{Model: "m", Artifact: good})
	if err != nil || v.Version != 1 {
		t.Fatalf("good push = %v, %v; want version 1", v.Version, err)
	}
}

func TestEndpointFollowsAlias(t *testing.T) {
	s, gw := newService(t)
	ctx := context.Background()
	good := readModel(t, "breast_cancer.json")
	for i := 0; i < 2; i++ {
		if _, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: good}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetAlias(ctx, "bc", "production", 1, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEndpoint(ctx, "bc", EndpointSpec{Model: "bc", Version: "@production"}); err != nil {
		t.Fatal(err)
	}
	serving := func() int {
		ep := gw.Current().Endpoints["bc"]
		if ep == nil {
			t.Fatal("endpoint bc is not in the routing table")
		}
		return ep.Plan.Versions()[0]
	}
	if got := serving(); got != 1 {
		t.Errorf("serving %d, want 1", got)
	}
	if _, err := s.SetAlias(ctx, "bc", "production", 2, "t"); err != nil {
		t.Fatal(err)
	}
	if got := serving(); got != 2 {
		t.Errorf("after moving the alias: serving %d, want 2", got)
	}
	// Deleting the alias must not take the endpoint down.
	if err := s.DeleteAlias(ctx, "bc", "production", "t"); err != nil {
		t.Fatal(err)
	}
	if got := serving(); got != 2 {
		t.Errorf("after deleting the alias: serving %d, want 2 (kept)", got)
	}
	ep, err := s.GetEndpoint(ctx, "bc")
	if err != nil || ep.Error == "" {
		t.Errorf("GetEndpoint = %+v, %v; want an error saying the alias does not resolve", ep, err)
	}
	if _, err := s.SetVersion(ctx, "bc", "latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: good}); err != nil {
		t.Fatal(err)
	}
	if got := serving(); got != 3 {
		t.Errorf("endpoint on latest after a push: serving %d, want 3", got)
	}
	if err := s.DeleteEndpoint(ctx, "bc"); err != nil {
		t.Fatal(err)
	}
	if gw.Current().Endpoints["bc"] != nil {
		t.Error("deleted endpoint still routed")
	}
}

func TestPinnedBackend(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: readModel(t, "breast_cancer.json")}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.PinnedBackend(ctx, "bc", 1); err != nil || !b.Ready() {
		t.Errorf("PinnedBackend(1) = %v, %v", b, err)
	}
	if _, err := s.PinnedBackend(ctx, "bc", 2); !errors.Is(err, gateway.ErrVersionNotFound) {
		t.Errorf("PinnedBackend(2) error = %v, want ErrVersionNotFound", err)
	}
}

// TestReloadKeepsUserSignatureAndParams loads a version from the store (as
// after a restart) and checks the user's signature and threads survive.
func TestReloadKeepsUserSignatureAndParams(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	model := readModel(t, "diabetes.json")
	feats := make([]inference.Feature, 10)
	for i := range feats {
		feats[i] = inference.Feature{Name: "x" + string(rune('a'+i))}
	}
	sig := &inference.Signature{
		Inputs:  []inference.TensorSpec{{Name: "input", Datatype: inference.FP32, Shape: []int64{-1, 10}, Features: feats, AllowMissing: true}},
		Outputs: []inference.TensorSpec{{Name: "predict", Datatype: inference.FP32, Shape: []int64{-1}}},
	}
	v, err := s.Push(ctx, PushRequest{Model: "d", Artifact: model, Signature: sig, Params: map[string]string{"threads": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	s.loaded = newLoadedSet(0, s.log) // forget loaded versions, as a restart would
	b, err := s.PinnedBackend(ctx, "d", v.Version)
	if err != nil {
		t.Fatal(err)
	}
	rs := b.Runtime.Signature()
	in, ok := rs.TabularInput()
	if !ok || in.Features[0].Name != "xa" {
		t.Errorf("reloaded signature features = %+v, want the user's names", in.Features)
	}
}

// TestModelMemoryBudget loads versions beyond the budget and checks that
// versions outside the routing table are evicted least-recently-used while
// the served one stays.
func TestModelMemoryBudget(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	model := readModel(t, "breast_cancer.json")
	size := int64(len(model))
	s.loaded = newLoadedSet(2*size+size/2, s.log) // room for two versions
	for i := 0; i < 4; i++ {
		if _, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: model}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateEndpoint(ctx, "bc", EndpointSpec{Model: "bc", Version: "1"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{2, 3, 4} {
		if _, err := s.PinnedBackend(ctx, "bc", v); err != nil {
			t.Fatal(err)
		}
	}
	loaded := func() []bool {
		var out []bool
		for v := 1; v <= 4; v++ {
			out = append(out, s.IsLoaded("bc", v))
		}
		return out
	}
	if got, want := loaded(), []bool{true, false, false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("loaded versions 1..4 = %v, want %v (1 is served, 4 most recent)", got, want)
	}
	// Concurrent first requests for one version load it once.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.PinnedBackend(ctx, "bc", 2); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if !s.IsLoaded("bc", 2) || s.IsLoaded("bc", 3) {
		t.Errorf("after loading 2: loaded = %v", loaded())
	}
}
