package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// chain builds n sealed events.
func chain(n int) []Event {
	var evs []Event
	var prev Head
	for i := range n {
		e := Event{Time: time.Unix(1700000000, int64(i)).UTC(), Actor: "alice", Action: "model.push",
			Object: fmt.Sprintf("model/m@%d", i+1), After: json.RawMessage(`{"size":1}`)}
		Seal(&e, prev.Seq, prev.Hash)
		prev = Head{Seq: e.Seq, Hash: e.Hash}
		evs = append(evs, e)
	}
	return evs
}

func TestCanonicalIsUnambiguous(t *testing.T) {
	// Moving bytes between adjacent fields changes the hash.
	a := Event{Seq: 1, Actor: "ab", Action: "c"}
	b := Event{Seq: 1, Actor: "a", Action: "bc"}
	if Hash(a) == Hash(b) {
		t.Fatal("fields a|bc and ab|c hash the same")
	}
	c := Event{Seq: 1, Object: "x", Before: json.RawMessage(`1`)}
	d := Event{Seq: 1, Object: "x", After: json.RawMessage(`1`)}
	if Hash(c) == Hash(d) {
		t.Fatal("before and after are interchangeable")
	}
	// The hash is a pure function of the fields: a fixed event has a
	// fixed hash, so chains verify on any machine.
	e := Event{Seq: 7, Time: time.Unix(0, 42).UTC(), Actor: "ci", Action: "alias.set", Object: "model/fraud/alias/production",
		Before: json.RawMessage(`{"version":1}`), After: json.RawMessage(`{"version":2}`), PrevHash: "ab"}
	want := "sluice-audit-v1\n1:7\n2:42\n2:ci\n9:alias.set\n28:model/fraud/alias/production\n13:{\"version\":1}\n13:{\"version\":2}\n2:ab\n"
	if got := string(Canonical(e)); got != want {
		t.Errorf("Canonical = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	good := chain(6)
	head := Head{Seq: 6, Hash: good[5].Hash}
	if rep := Verify(good, &head); rep.Problem != nil || rep.Events != 6 {
		t.Fatalf("good chain: %+v", rep)
	}
	mod := func(f func([]Event) []Event) []Event {
		c := append([]Event(nil), good...)
		return f(c)
	}
	tests := []struct {
		name   string
		events []Event
		head   *Head
		want   int64
	}{
		{"edit", mod(func(c []Event) []Event { c[2].Actor = "mallory"; return c }), &head, 3},
		{"edit and rehash", mod(func(c []Event) []Event { c[2].Actor = "mallory"; c[2].Hash = Hash(c[2]); return c }), &head, 3},
		{"delete", mod(func(c []Event) []Event { return append(c[:3], c[4:]...) }), &head, 4},
		{"delete tail", good[:5], &head, 6},
		{"insert", mod(func(c []Event) []Event { x := c[1]; x.Seq = 2; return append(c[:2], append([]Event{x}, c[2:]...)...) }), &head, 2},
		{"reorder", mod(func(c []Event) []Event { c[1], c[2] = c[2], c[1]; return c }), &head, 2},
		{"head hash", good, &Head{Seq: 6, Hash: "00"}, 6},
		{"first event prev hash", mod(func(c []Event) []Event { c[0].PrevHash = "x"; c[0].Hash = Hash(c[0]); return c }), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Verify(tt.events, tt.head)
			if rep.Problem == nil || rep.Problem.Seq != tt.want {
				t.Errorf("problem = %+v, want at %d", rep.Problem, tt.want)
			}
		})
	}
}

// TestWholeChainRewrite: a rewrite of every event from some point is a
// consistent chain; only a head kept elsewhere reveals it.
func TestWholeChainRewrite(t *testing.T) {
	good := chain(5)
	kept := Head{Seq: 3, Hash: good[2].Hash}
	bad := append([]Event(nil), good[:1]...)
	prev := Head{Seq: 1, Hash: good[0].Hash}
	for _, e := range good[1:] {
		e.Actor = "mallory"
		Seal(&e, prev.Seq, prev.Hash)
		prev = Head{Seq: e.Seq, Hash: e.Hash}
		bad = append(bad, e)
	}
	if rep := Verify(bad, &prev); rep.Problem != nil {
		t.Fatalf("the rewritten chain should be self-consistent: %v", rep.Problem)
	}
	hashes := map[int64]string{}
	for _, e := range bad {
		hashes[e.Seq] = e.Hash
	}
	p := CheckAnchor(hashes, kept)
	if p == nil || p.Seq != 3 || !strings.Contains(p.Reason, "rewritten") {
		t.Fatalf("kept head check = %+v, want a rewrite at 3", p)
	}
	if p := CheckAnchor(hashes, Head{Seq: 9, Hash: "x"}); p == nil || p.Seq != 9 {
		t.Errorf("kept head beyond the chain = %+v", p)
	}
}

func TestActor(t *testing.T) {
	ctx := t.Context()
	if Actor(ctx) != System {
		t.Errorf("no actor = %q", Actor(ctx))
	}
	if Actor(WithActor(ctx, "ci")) != "ci" {
		t.Error("WithActor lost")
	}
}

func FuzzVerify(f *testing.F) {
	b, _ := json.Marshal(chain(3))
	f.Add(b)
	f.Add([]byte(`[{"seq":1},{"seq":1},{"seq":-5}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var evs []Event
		if json.Unmarshal(data, &evs) != nil {
			return
		}
		rep := Verify(evs, &Head{Seq: 3})
		if rep.Problem == nil && rep.Events != len(evs) {
			t.Fatalf("verified %d of %d events without a problem", rep.Events, len(evs))
		}
	})
}
