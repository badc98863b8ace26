// Package remote serves model versions that run on an external model
// server: Triton, KServe, MLServer or any other server speaking the Open
// Inference Protocol v2 over REST, or TensorFlow Serving's REST API.
//
// # Why a format
//
// Sluice's traffic strategies, monitoring and rollouts work on
// inference.Model, whatever runs the model. Making "a model on another
// server" one more format (named "http") lets a canary move traffic from a
// built-in XGBoost version to a GPU model on Triton, or shadow one server
// with another, with no special case in the gateway. The artifact of such
// a version is not the model but a small JSON document saying where the
// model runs and how to talk to it; see Document and docs/formats/remote.md.
//
// # The call path
//
// Predict checks the caller's tensors against the signature (names,
// shapes, and converting numeric datatypes to the declared one, as the
// built-in runtimes accept any numeric input), encodes them with the
// codec of package oip, and POSTs them to one replica. Replicas are used
// round robin, skipping those marked unhealthy. A goroutine started by
// Load polls each replica's readiness every health_interval and Close
// stops it; a connection failure also marks a replica down at once, until
// the next successful poll.
//
// A call that fails in a way that says nothing about its input
// (connection refused or reset, a 502, 503 or 504) is retried once on
// another healthy replica: inference is a pure function of its input, so
// the POST is idempotent. Both attempts share one deadline, the version's
// timeout, so no call outlives it (by more than a sixteenth of it: a busy
// connection keeps a deadline already within that range rather than
// resetting it for each call).
//
// # Errors
//
// The gateway maps errors to status codes; this package chooses the
// sentinel:
//
//   - the per-version timeout expired: wraps inference.ErrTimeout and
//     names the URL;
//   - no connection, a reset, a 502 or 503 answer, or a closed Model:
//     wraps inference.ErrBackendUnavailable;
//   - a 4xx answer (other than 404, 408 and 429, which say nothing about
//     the input): *inference.InputError with the server's message, since
//     the caller's input was wrong;
//   - a 5xx answer or a response that cannot be decoded: a plain error
//     with the server's message.
//
// # Performance
//
// This runtime sits on the gateway's hot path. Inference calls to plain
// http replicas go through a client of its own (client.go): a pool of
// kept-alive HTTP/1.1 connections per replica, the request head and body
// written with one system call from one pooled buffer, and the response
// parsed by the calling goroutine, with no goroutine or channel hand-off
// per call. net/http's Transport, which https replicas and the readiness
// and metadata calls still use, cost about twice the CPU per call, and
// sent head and body in two writes. Responses are decoded with the
// hand-written decoders of package oip rather than generic JSON
// decoding. Calls nobody waits for (the gateway's shadow copies) can be
// sent several at once with PredictPipelined, pipelined on one
// connection (pipeline.go). BenchmarkRemotePredict1Row measures the
// whole round trip against a local backend; bench/gateway measures the
// gateway with it against nginx.
package remote
