package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// This file holds the protocol-neutral steps of an inference call, shared
// by the REST handlers and the gRPC service so that both route, validate
// and fail the same way: resolve picks the endpoint and backend, runInfer
// checks the inputs, predicts and keeps the requested outputs. Failures
// are *httpError values; REST writes them as they are and gRPC converts
// them with grpcStatus, so each cause maps to one status in each protocol.

// resolve finds the endpoint called name and the backend to answer: the
// pinned version when version is not empty, else one picked by the
// endpoint's traffic plan. The backend may be nil or not ready; callers
// check with Ready and answer notReady.
func (g *Gateway) resolve(ctx context.Context, name, version string) (*Endpoint, *Backend, *httpError) {
	s := g.snap.Load()
	if s == nil {
		return nil, nil, &httpError{http.StatusServiceUnavailable, "server is starting: no routing table yet"}
	}
	ep := s.Endpoints[name]
	if ep == nil {
		return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("endpoint %q not found", name)}
	}
	if version == "" {
		return ep, ep.Backends[ep.Plan.Pick(rand.Uint64())], nil
	}
	v, err := strconv.Atoi(version)
	if err != nil || v <= 0 {
		return nil, nil, &httpError{http.StatusBadRequest, fmt.Sprintf("version %q: must be a positive integer", version)}
	}
	if b := ep.Backends[v]; b != nil {
		return ep, b, nil
	}
	if g.opts.Pinner == nil {
		return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("version %d is not served by endpoint %q", v, name)}
	}
	b, err := g.opts.Pinner.PinnedBackend(ctx, ep.Model, v)
	if errors.Is(err, ErrVersionNotFound) {
		return nil, nil, &httpError{http.StatusNotFound, fmt.Sprintf("model %q has no version %d", ep.Model, v)}
	}
	if err != nil {
		return nil, nil, &httpError{http.StatusServiceUnavailable, fmt.Sprintf("loading %s version %d: %v", ep.Model, v, err)}
	}
	return ep, b, nil
}

// runInfer scores a decoded inference request on a ready backend: it
// checks the inputs against the backend's signature (assembling feature
// columns for tabular models), predicts, and returns the requested outputs
// in request order, or all of them.
func (g *Gateway) runInfer(ctx context.Context, ep *Endpoint, b *Backend, req *oip.InferRequest) ([]inference.Tensor, *httpError) {
	inputs, err := adaptInputs(req.Inputs, b)
	if err != nil {
		return nil, badRequest(err)
	}
	outputs, err := b.Runtime.Predict(ctx, inputs)
	if err != nil {
		return nil, g.predictError(ep, b, err)
	}
	if len(req.Outputs) > 0 {
		if outputs, err = selectOutputs(outputs, req.Outputs); err != nil {
			return nil, badRequest(err)
		}
	}
	return outputs, nil
}

// maxRequestID bounds the length of a caller's request id.
const maxRequestID = 128

// pickRequestID returns the caller's request id when it is sane (1 to 128
// printable ASCII characters, no spaces), else a new random one.
func pickRequestID(id string) string {
	if id != "" && len(id) <= maxRequestID && printable(id) {
		return id
	}
	var b [16]byte
	u1, u2 := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(u1 >> (8 * i))
		b[8+i] = byte(u2 >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
