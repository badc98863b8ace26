// Package stream runs Sluice's streaming inference pipelines: read a
// topic, decode each message into instances (JSON objects or CSV lines),
// optionally add window aggregates of recent messages of the same key,
// score through an endpoint (its traffic plan applies per message) or one
// model version, publish one result per instance to a sink topic, and
// only then acknowledge the input.
//
// Delivery is at least once. A batch is acknowledged to the source only
// after the sink (and the dead letter sink, and for windowed streams the
// window checkpoint) accepted everything derived from it, so a crash
// replays messages and never skips one. Every result carries a request id
// derived from the input's id or broker position, the same on a replay,
// so consumers can drop duplicates (on NATS the id is also the
// Nats-Msg-Id, so JetStream drops them itself within its duplicate
// window).
//
// A message that cannot be decoded or scored because of what it holds
// goes to the dead letter sink with the reason, and the pipeline goes on.
// A failure that is not the message's fault (the model not loaded, a
// timeout, the sink down) holds the batch and retries it with backoff:
// the source is not read meanwhile, so a slow or failing sink slows
// consumption instead of growing memory; at most one batch (BatchSize
// messages) is in flight per pipeline.
//
// Connectors live in package broker; a Manager runs the pipelines of the
// stored streams and restarts a failed one.
package stream
