package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Problem is the first place where a chain does not verify.
type Problem struct {
	// Seq is the first bad sequence number: the number of an edited event,
	// the number missing where an event was deleted, the number of the
	// first event out of place after an insertion or reordering.
	Seq int64 `json:"seq"`
	// Reason says what is wrong there.
	Reason string `json:"reason"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit chain broken at sequence number %d: %s", p.Seq, p.Reason)
}

// Report is the outcome of Verify.
type Report struct {
	// Events is how many events were checked.
	Events int `json:"events"`
	// Head is the last event that verified.
	Head Head `json:"head"`
	// Problem is the first break, nil when the chain verifies.
	Problem *Problem `json:"problem,omitempty"`
}

// Verifier checks a chain one event at a time, in the order read (by
// sequence number). The zero value expects the chain to start at 1.
type Verifier struct {
	report Report
	next   int64
}

// Add checks e against the events before it. After the first problem it
// does nothing; Report says what the problem was.
func (v *Verifier) Add(e Event) {
	if v.report.Problem != nil {
		return
	}
	if v.next == 0 {
		v.next = 1
	}
	prev := v.report.Head
	switch {
	case e.Seq < v.next:
		v.fail(e.Seq, fmt.Sprintf("sequence number %d appears again or out of order after %d", e.Seq, prev.Seq))
	case e.Seq > v.next:
		v.fail(v.next, fmt.Sprintf("event %d is missing (the next event is %d)", v.next, e.Seq))
	case Hash(e) != e.Hash:
		v.fail(e.Seq, fmt.Sprintf("stored hash %s does not match the event's contents (hash %s): the event was edited or renumbered", short(e.Hash), short(Hash(e))))
	case e.PrevHash != prev.Hash:
		// e is intact, so the event before it is not the one e was chained
		// to: it was edited and re-hashed, or replaced.
		bad := max(e.Seq-1, 1)
		v.fail(bad, fmt.Sprintf("event %d's hash %s is not the previous hash %s that event %d was chained to: event %d was edited and re-hashed or replaced", prev.Seq, short(prev.Hash), short(e.PrevHash), e.Seq, bad))
	default:
		v.report.Events++
		v.report.Head = Head{Seq: e.Seq, Hash: e.Hash}
		v.next = e.Seq + 1
	}
}

func (v *Verifier) fail(seq int64, reason string) {
	v.report.Problem = &Problem{Seq: seq, Reason: reason}
}

// CheckHead checks that the chain read so far ends at head, the head the
// store (or an exported copy) records: events deleted from the end leave a
// chain that is consistent but shorter.
func (v *Verifier) CheckHead(head Head) {
	if v.report.Problem != nil {
		return
	}
	got := v.report.Head
	switch {
	case head.Seq > got.Seq:
		v.fail(got.Seq+1, fmt.Sprintf("the chain ends at %d but its head records %d: events were deleted from the end", got.Seq, head.Seq))
	case head.Seq < got.Seq:
		v.fail(head.Seq+1, fmt.Sprintf("the chain has events after its recorded head %d", head.Seq))
	case head.Hash != got.Hash:
		v.fail(head.Seq, fmt.Sprintf("the head records hash %s for event %d but the chain has %s", short(head.Hash), head.Seq, short(got.Hash)))
	}
}

// CheckAnchor checks a head kept elsewhere (exported earlier or signed)
// against the chain: the event numbered anchor.Seq must still have the hash
// the anchor recorded. Call it after adding every event; it looks the
// anchor up in hashes, the seq→hash map the caller kept.
func CheckAnchor(hashes map[int64]string, anchor Head) *Problem {
	h, ok := hashes[anchor.Seq]
	if !ok {
		return &Problem{Seq: anchor.Seq, Reason: fmt.Sprintf("the kept head names event %d, which the chain no longer has", anchor.Seq)}
	}
	if h != anchor.Hash {
		return &Problem{Seq: anchor.Seq, Reason: fmt.Sprintf("the kept head records hash %s for event %d but the chain has %s: the chain was rewritten", short(anchor.Hash), anchor.Seq, short(h))}
	}
	return nil
}

// Report returns the outcome so far.
func (v *Verifier) Report() Report { return v.report }

// Verify checks a whole chain, in sequence order, and that it ends at head
// when head is not nil.
func Verify(events []Event, head *Head) Report {
	var v Verifier
	for _, e := range events {
		v.Add(e)
	}
	if head != nil {
		v.CheckHead(*head)
	}
	return v.Report()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}

func appendCompact(dst, src []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, src); err != nil {
		return nil, err
	}
	return append(dst, b.Bytes()...), nil
}
