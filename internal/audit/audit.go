package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Event is one entry of the audit log.
type Event struct {
	// Seq numbers events 1, 2, 3... without gaps.
	Seq int64 `json:"seq"`
	// Time is when the change was made (UTC, nanosecond precision).
	Time time.Time `json:"time"`
	// Actor is who made it: a token name, a client certificate subject,
	// "system" for the server itself, or "anonymous" with auth off.
	Actor string `json:"actor"`
	// Action names the change, e.g. "model.push", "alias.set".
	Action string `json:"action"`
	// Object names what changed, e.g. "model/fraud@3", "endpoint/fraud".
	Object string `json:"object"`
	// Before and After are the object's state around the change as compact
	// JSON; empty when there was none (a creation, a deletion).
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// PrevHash is the previous event's Hash ("" for the first event).
	PrevHash string `json:"prev_hash"`
	// Hash is Hash(e): lowercase hex sha256.
	Hash string `json:"hash"`
}

// Change is what a write records; the store fills in the rest.
type Change struct {
	Action string
	Object string
	// Before and After are marshalled to JSON; nil means none. A
	// json.RawMessage is used as it is (compacted).
	Before, After any
	// At is when the change happened; zero means now.
	At time.Time
}

// canonicalVersion prefixes the hashed bytes so that a future encoding can
// never produce the same input as this one.
const canonicalVersion = "sluice-audit-v1\n"

// Canonical is the byte string an event's hash covers: every field except
// Hash, each as its decimal length, ':' and its bytes, in a fixed order.
// Lengths make the encoding unambiguous whatever the fields contain.
func Canonical(e Event) []byte {
	fields := []string{
		strconv.FormatInt(e.Seq, 10),
		strconv.FormatInt(e.Time.UnixNano(), 10),
		e.Actor, e.Action, e.Object, string(e.Before), string(e.After), e.PrevHash,
	}
	n := len(canonicalVersion)
	for _, f := range fields {
		n += len(f) + 22
	}
	b := make([]byte, 0, n)
	b = append(b, canonicalVersion...)
	for _, f := range fields {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, '\n')
	}
	return b
}

// Hash returns the hash of e over Canonical(e).
func Hash(e Event) string {
	sum := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(sum[:])
}

// Seal sets e.Seq, e.PrevHash and e.Hash so that e follows the event
// (prevSeq, prevHash).
func Seal(e *Event, prevSeq int64, prevHash string) {
	e.Seq = prevSeq + 1
	e.PrevHash = prevHash
	e.Hash = Hash(*e)
}

// Encode turns a Change's before or after value into compact JSON; nil
// gives nil.
func Encode(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(x) == 0 {
			return nil, nil
		}
		return compact(x)
	case []byte:
		if len(x) == 0 {
			return nil, nil
		}
		return compact(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding audit state: %w", err)
	}
	return b, nil
}

func compact(b []byte) (json.RawMessage, error) {
	var out []byte
	out, err := appendCompact(out, b)
	if err != nil {
		return nil, fmt.Errorf("encoding audit state: %w", err)
	}
	return out, nil
}

// Head is a chain's last event: everything up to Seq is fixed by Hash.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

type actorKey struct{}

// System is the actor of changes the server makes on its own.
const System = "system"

// WithActor returns ctx carrying who is making changes.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the actor ctx carries, or System.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return System
}
