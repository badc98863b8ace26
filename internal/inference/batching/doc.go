// Package batching merges concurrent predictions into larger runtime
// calls.
//
// # Why
//
// Many runtimes score a batch of rows for little more than the cost of
// one: ONNX Runtime pays a fixed cost per call (session run, tensor
// set-up, dispatch to threads) and a remote model server a round trip. Under load, a gateway receives many
// single-row requests at once; running them as one call of many rows
// raises throughput without changing any answer. Wrap puts a batcher in
// front of a loaded Model; the gateway and the traffic strategies see an
// ordinary inference.Model.
//
// # How
//
// Predict calls whose single input has shape [n, ...] join a group of
// waiting calls with the same input name, datatype and trailing
// dimensions, up to Config.MaxBatchRows rows. A group runs as one
// runtime call of the rows stacked in order, and every output whose
// first dimension is the total number of rows is cut back into each
// caller's rows (the callers' slices alias the merged output, never
// overlapping).
//
// At most Config.Concurrency runtime calls run at once. A group is ready
// when it is full, or when its first call has waited Config.MaxWait; a
// ready group runs as soon as a slot is free. There is no batcher
// goroutine in the way: the call that finds a slot free leads its group
// and, when the group is only itself, runs the runtime in its own
// goroutine, as an unwrapped model would; the goroutine that finishes a
// group runs the next ready one.
//
// MaxWait 0, the default, means no timed wait: the leading call only
// yields the processor once (runtime.Gosched), so that goroutines ready
// to run, typically other requests already decoded, join its group
// first. This costs nothing measurable when traffic is light, and under
// load, when the runtime's slots are busy and calls queue, batches grow
// by themselves. A positive MaxWait makes a group wait for company even
// when the runtime is idle: it trades latency for bigger batches, and is
// only worth it when one call costs far more than a row; note that
// timers on some hosts fire no sooner than a millisecond.
//
// # When it pays
//
// Merging costs a goroutine hand-off per call, about a microsecond. It
// pays for runtimes whose fixed cost per call is well above that: ONNX
// Runtime (BenchmarkBatching: about 3.5 times the rows per second with
// 32 concurrent single-row clients on two cores) and remote model
// servers, whose cost per call is a round trip. The built-in tree and
// linear runtimes score a row in about a microsecond and lose by it.
//
// # What is not merged
//
// Calls run alone, at once and unqueued, when merging could change their
// answer or cannot help: several inputs, an input whose rank differs from
// the signature's (a single row sent as [F]), an input the signature
// fixes the batch size of, zero rows, more than MaxBatchRows rows, or a
// tensor whose data does not match its shape (the runtime reports that).
//
// If a merged call returns outputs that are not row-aligned (an output
// whose first dimension is not the number of rows, like a scalar
// statistic of the batch), the rows cannot be given back: each member is
// run again alone, and the Model stops merging for good, since such a
// model's answers depend on the batch.
//
// # Errors
//
// An error from a merged call must not fail callers whose input was fine:
// when a merged call fails with anything but a timeout, an unavailable
// backend or a cancelled context (errors that would hit every member
// alike), each member is run again alone and gets its own answer or its
// own error. A caller whose context ends while its call waits is removed
// from its group and gets ctx.Err(); a merged call already running is
// not cancelled by one caller, and runs under a context that keeps the
// latest of its members' deadlines. When the queue holds Config.MaxQueue
// calls, Predict fails at once with an error wrapping
// inference.ErrBackendUnavailable: shedding load is better than queueing
// without bound.
package batching
