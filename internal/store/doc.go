// Package store persists the control plane's state: models and their
// immutable versions, aliases and their history, endpoints and their
// revisions, and the serving revision gateways poll.
//
// One implementation, two databases. A single node embeds SQLite (pure Go,
// modernc.org/sqlite, so the binary needs no cgo); several nodes share
// PostgreSQL. Rather than an interface with two implementations that drift
// apart, DB runs the same portable SQL on both: queries are written with '?'
// and rebound to $n for PostgreSQL in one place, the schema uses only TEXT,
// INTEGER and BIGINT, and the differences that matter are named where they
// occur (row locks, the migration lock). The conformance suite runs every
// test against both, so "works on my laptop with SQLite" means "works in the
// cluster".
//
// Numbers are assigned in code, inside the transaction that uses them, never
// by AUTOINCREMENT or SERIAL: a version number is the model row's counter
// plus one, taken under that row's lock (PostgreSQL) or the single writer
// lock (SQLite, whose write transactions begin IMMEDIATE). Concurrent pushes
// therefore get consecutive numbers, and a failed push leaves no gap and no
// row behind.
//
// Every write that touches more than one row is one transaction, and every
// change that can alter routing (endpoints, aliases, new versions, which move
// "latest") bumps one counter, the serving revision, in the same
// transaction. A gateway compares that single number to decide whether to
// rebuild its routing table, which is cheap enough to poll from every node.
// Alias and endpoint changes are appended to history tables in the same
// transaction, so a revision can be shown, diffed or rolled back to later.
//
// Schema changes are numbered .sql files embedded in the binary and applied
// at Open, each in its own transaction with its schema_migrations row. A
// database migrated by a newer binary is refused rather than used.
//
// The store validates names and documents itself, so every caller (API,
// declarative apply, controller) gets the same rules and the same messages,
// and errors wrap a few sentinels (ErrNotFound, ErrAlreadyExists,
// ErrConflict, ErrInvalid) that the API layer maps to status codes.
package store
