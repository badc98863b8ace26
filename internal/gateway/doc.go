// Package gateway is Sluice's data plane: it answers inference requests over
// REST (Open Inference Protocol v2 and the plain JSON form) and gRPC (the
// Open Inference Protocol GRPCInferenceService) by routing each
// one to a model version and calling that version's runtime.
//
// The gateway reads only an immutable Snapshot, held in an atomic pointer.
// The control plane builds a new Snapshot when an endpoint, alias or version
// changes and swaps it in with Swap; requests in flight finish on the
// snapshot they started with, so a version change never fails a request and
// the hot path never takes a lock or touches the store.
package gateway
