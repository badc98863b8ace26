// Package predlog is the prediction log: a record of every prediction (or
// a sampled share) with its request id, time, endpoint, version, inputs,
// outputs and latency, written asynchronously to one or more sinks.
//
// The gateway answers requests on the data plane, and the data plane never
// waits on logging (see DESIGN.md, "Two planes"). So Logger.Log does not
// write anything: it redacts the record, decides per sink whether the
// record is sampled, and puts it on that sink's bounded queue. A goroutine
// per sink takes records off the queue in batches and writes them. When a
// queue is full the record is dropped and counted, never the request.
//
// The one exception is a sink marked Required, for teams that must keep
// every prediction (compliance): Log then waits for room in that sink's
// queue, so a slow or failing sink slows the requests down instead of
// losing records. That is back-pressure by design, and docs/prediction-log.md
// says what it costs.
//
// Sinks implement a two-method interface, Sink. This package has two:
// FileSink writes JSON lines to size- and age-rotated segment files under
// a directory, with retention by total size and age, and Read reads them
// back for `sluice logs`; WebhookSink POSTs batches as JSON to a URL. The
// streaming connectors add Kafka and NATS sinks behind the same interface,
// and Open's switch on the configured kind is where they plug in.
//
// Records are owned by the log once they are passed to Log: their slices
// must not be changed afterwards, and sinks must not change them either,
// since every sink sees the same backing arrays.
package predlog
