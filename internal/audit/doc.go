// Package audit is Sluice's tamper-evident audit trail: the event every
// change writes, the hash chain that links events, and the checks that find
// an edited, deleted, inserted or reordered event.
//
// Each event's hash is sha256 over a canonical encoding of its fields and
// the previous event's hash (Hash). The store appends events inside the
// transaction of the change they record, so there is no change without its
// event, and numbers them 1, 2, 3... without gaps. Verify walks a chain and
// names the first sequence number that does not fit.
//
// A chain alone cannot reveal a rewrite of every event after some point by
// someone with write access to the database: the rewritten chain is
// consistent. Signed heads close that gap. At intervals the server signs the
// current head (sequence number and hash) with an ed25519 key the database
// does not hold; an auditor who keeps an exported head, or checks the stored
// signatures against the public key, detects any rewrite of the events the
// head covers.
//
// Who made a change travels in the context (WithActor, Actor), set by the
// API's authentication from the token or client certificate, so the store
// records the actor without every call passing it.
package audit
