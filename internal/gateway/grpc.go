package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice/internal/oip/oippb"
)

// gRPC response metadata (headers) every ModelInfer answer carries, the
// counterparts of HeaderRequestID and HeaderModelVersion. A caller may send
// its own sluice-request-id in the request metadata.
const (
	MetadataRequestID    = "sluice-request-id"
	MetadataModelVersion = "sluice-model-version"
)

// GRPCServiceName is the full name of the Open Inference Protocol service,
// as health checks and reflection name it.
const GRPCServiceName = "inference.GRPCInferenceService"

// ParamBinaryDataOutput is the request parameter (a bool) that chooses how
// ModelInfer returns output data: true for raw_output_contents, false for
// the typed InferTensorContents. Without it the response mirrors the
// request: raw when the inputs came in raw_input_contents, typed otherwise.
// Triton's HTTP protocol uses the same name for the same choice.
const ParamBinaryDataOutput = "binary_data_output"

// healthPollInterval is how often a health Watch opened before the first
// snapshot checks whether one has arrived.
const healthPollInterval = 100 * time.Millisecond

// GRPCServer serves the Open Inference Protocol gRPC service
// (inference.GRPCInferenceService) over the gateway's snapshot, with the
// standard health service (grpc.health.v1.Health) and server reflection, so
// grpcurl and grpc_health_probe work without .proto files.
type GRPCServer struct {
	srv    *grpc.Server
	health *healthServer
}

// NewGRPCServer returns a gRPC server for the gateway. It routes exactly as
// REST does: ModelInferRequest.model_name is the endpoint, an empty
// model_version goes through the traffic plan and a set one pins the
// version like /v2/models/{name}/versions/{version}.
//
// The largest request message accepted is Options.MaxBodyBytes (32 MiB by
// default), the REST body limit; larger ones fail with ResourceExhausted.
// opts are applied after Sluice's defaults, so grpc.MaxRecvMsgSize,
// grpc.Creds, keepalive and interceptors given here take effect.
//
// Health reports NOT_SERVING for "" and GRPCServiceName until the first
// snapshot is swapped in, SERVING after, and NOT_SERVING again once
// Shutdown starts.
func (g *Gateway) NewGRPCServer(opts ...grpc.ServerOption) *GRPCServer {
	base := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(min(g.opts.MaxBodyBytes, math.MaxInt32))),
		grpc.ChainUnaryInterceptor(g.recoverUnary),
	}
	srv := grpc.NewServer(append(base, opts...)...)
	oippb.RegisterGRPCInferenceServiceServer(srv, &grpcService{g: g})
	h := newHealthServer(g)
	healthpb.RegisterHealthServer(srv, h)
	reflection.Register(srv)
	return &GRPCServer{srv: srv, health: h}
}

// Serve accepts connections on lis until Shutdown or Stop, and then
// returns nil, also when they came first (lis is then closed). Other
// failures of lis are returned.
func (s *GRPCServer) Serve(lis net.Listener) error {
	if err := s.srv.Serve(lis); !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully: health turns NOT_SERVING, new
// calls are refused and calls in flight finish. If ctx ends first the
// remaining calls are cancelled (Stop) and ctx's error returned. Shutdown
// may be called more than once.
func (s *GRPCServer) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.srv.GracefulStop()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		return ctx.Err()
	}
}

// Stop closes every connection and cancels calls in flight at once.
func (s *GRPCServer) Stop() {
	s.health.Shutdown()
	s.srv.Stop()
}

// Server returns the underlying *grpc.Server, to register more services on
// the same port before Serve.
func (s *GRPCServer) Server() *grpc.Server { return s.srv }

// recoverUnary turns a panic in a handler (a runtime bug, say) into an
// Internal error for that call, as net/http does for REST, instead of
// crashing the process.
func (g *Gateway) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("gRPC handler panicked", "method", info.FullMethod, "panic", p)
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
		}
	}()
	return handler(ctx, req)
}

// grpcService implements inference.GRPCInferenceService.
type grpcService struct {
	oippb.UnimplementedGRPCInferenceServiceServer
	g *Gateway
}

var _ oippb.GRPCInferenceServiceServer = (*grpcService)(nil)

func (s *grpcService) ServerLive(context.Context, *oippb.ServerLiveRequest) (*oippb.ServerLiveResponse, error) {
	return &oippb.ServerLiveResponse{Live: true}, nil
}

func (s *grpcService) ServerReady(context.Context, *oippb.ServerReadyRequest) (*oippb.ServerReadyResponse, error) {
	return &oippb.ServerReadyResponse{Ready: s.g.snap.Load() != nil}, nil
}

func (s *grpcService) ServerMetadata(context.Context, *oippb.ServerMetadataRequest) (*oippb.ServerMetadataResponse, error) {
	return &oippb.ServerMetadataResponse{Name: "sluice", Version: Version, Extensions: []string{}}, nil
}

func (s *grpcService) ModelReady(ctx context.Context, req *oippb.ModelReadyRequest) (*oippb.ModelReadyResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required field is missing")
	}
	ok, herr := s.g.readiness(ctx, req.GetName(), req.GetVersion(), incomingHeader(ctx), peerAddr(ctx))
	if herr != nil {
		return nil, grpcStatus(herr)
	}
	return &oippb.ModelReadyResponse{Ready: ok}, nil
}

func (s *grpcService) ModelMetadata(ctx context.Context, req *oippb.ModelMetadataRequest) (*oippb.ModelMetadataResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required field is missing")
	}
	c, herr := s.g.resolve(ctx, req.GetName(), req.GetVersion(), incomingHeader(ctx), peerAddr(ctx))
	if herr != nil {
		return nil, grpcStatus(herr)
	}
	ep, b := c.ep, c.b
	if req.GetVersion() == "" {
		b = ep.primary()
	}
	if !b.Ready() {
		return nil, grpcStatus(notReady(ep, b))
	}
	md := &oippb.ModelMetadataResponse{
		Name:     ep.Name,
		Platform: b.Format,
		Inputs:   tensorMetadata(specs(b.sig.Inputs)),
		Outputs:  tensorMetadata(specs(b.sig.Outputs)),
	}
	if req.GetVersion() != "" {
		md.Versions = []string{b.versionStr}
	} else {
		for _, v := range ep.Plan.Versions() {
			md.Versions = append(md.Versions, strconv.Itoa(v))
		}
	}
	_ = grpc.SetHeader(ctx, grpcmd.Pairs(MetadataModelVersion, b.versionStr))
	return md, nil
}

func tensorMetadata(ts []tensorMeta) []*oippb.ModelMetadataResponse_TensorMetadata {
	out := make([]*oippb.ModelMetadataResponse_TensorMetadata, len(ts))
	for i, t := range ts {
		out[i] = &oippb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: string(t.Datatype), Shape: t.Shape}
	}
	return out
}

// ModelInfer decodes the request (typed contents or raw_input_contents),
// routes and scores it like POST /v2/models/{name}[/versions/{v}]/infer,
// and answers with typed or raw outputs (see ParamBinaryDataOutput).
func (s *grpcService) ModelInfer(ctx context.Context, m *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	var callerID string
	if ids := grpcmd.ValueFromIncomingContext(ctx, MetadataRequestID); len(ids) > 0 {
		callerID = ids[0]
	}
	rid := pickRequestID(callerID)
	if s.g.tracer != nil {
		var span trace.Span
		ctx, span = s.g.startGRPC(ctx)
		span.SetAttributes(AttrRequestID.String(rid), AttrEndpoint.String(m.GetModelName()))
		defer span.End()
	}
	resp, herr := s.g.modelInfer(ctx, rid, m)
	if herr != nil && s.g.tracer != nil {
		sp := trace.SpanFromContext(ctx)
		sp.SetAttributes(attribute.Int("sluice.status", herr.status))
		if herr.status >= 500 {
			sp.SetStatus(otelcodes.Error, herr.msg)
		}
	}
	// The headers go out with the answer or the error. SetHeader fails only
	// when ctx is not a gRPC call (the fuzz test calls directly).
	if herr != nil {
		_ = grpc.SetHeader(ctx, grpcmd.Pairs(MetadataRequestID, rid))
		return nil, grpcStatus(herr)
	}
	_ = grpc.SetHeader(ctx, grpcmd.Pairs(MetadataRequestID, rid, MetadataModelVersion, resp.ModelVersion))
	return resp, nil
}

// modelInfer is ModelInfer without the gRPC plumbing.
func (g *Gateway) modelInfer(ctx context.Context, rid string, m *oippb.ModelInferRequest) (*oippb.ModelInferResponse, *httpError) {
	if m.GetModelName() == "" {
		return nil, &httpError{status: http.StatusBadRequest, msg: "model_name: required field is missing"}
	}
	c, herr := g.resolve(ctx, m.GetModelName(), m.GetModelVersion(), incomingHeader(ctx), peerAddr(ctx))
	if herr != nil {
		return nil, herr
	}
	ep := c.ep
	if !c.b.Ready() {
		return nil, notReady(ep, c.b)
	}
	req, err := decodeGRPCRequest(m, g.opts.Limits)
	if err != nil {
		return nil, badRequest(err)
	}
	raw, err := wantRawOutput(m, req)
	if err != nil {
		return nil, badRequest(err)
	}
	explain, herr := explainParam(req.Parameters)
	if herr != nil {
		return nil, herr
	}
	outputs, e, herr := g.runInfer(ctx, rid, c, req, explain)
	if herr != nil {
		return nil, herr
	}
	b := c.b
	resp, err := encodeGRPCResponse(outputs, raw)
	if err == nil && e != nil {
		var p *oippb.InferParameter
		if p, err = grpcExplanation(e); err == nil {
			resp.Parameters = map[string]*oippb.InferParameter{"explanation": p}
		}
	}
	if err != nil {
		g.log.Error("invalid model output", "endpoint", ep.Name, "model", b.Model, "version", b.Version, "err", err)
		return nil, &httpError{status: http.StatusInternalServerError, msg: fmt.Sprintf("%s version %d: %v", b.Model, b.Version, err)}
	}
	resp.ModelName, resp.ModelVersion, resp.Id = ep.Name, b.versionStr, req.ID
	if resp.Id == "" {
		resp.Id = rid
	}
	return resp, nil
}

// grpcStatus is the gRPC form of an answer other than success. REST and
// gRPC fail from the same *httpError, so a cause has the same meaning in
// both: this is the one place the HTTP status becomes a gRPC code.
func grpcStatus(e *httpError) error {
	var c codes.Code
	switch e.status {
	case http.StatusBadRequest:
		c = codes.InvalidArgument
	case http.StatusNotFound:
		c = codes.NotFound
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		c = codes.ResourceExhausted
	case 499: // the client cancelled
		c = codes.Canceled
	case http.StatusServiceUnavailable:
		c = codes.Unavailable
	case http.StatusUnauthorized:
		c = codes.Unauthenticated
	case http.StatusForbidden:
		c = codes.PermissionDenied
	case http.StatusGatewayTimeout:
		c = codes.DeadlineExceeded
	default:
		c = codes.Internal
	}
	return status.Error(c, e.msg)
}

// healthServer is grpc's health service with the gateway's readiness: it
// turns SERVING the first time it sees a snapshot. The gateway has no swap
// notification, so Check and List look at the snapshot, and a Watch opened
// before the first snapshot polls for it.
type healthServer struct {
	*health.Server
	g       *Gateway
	serving sync.Once
}

func newHealthServer(g *Gateway) *healthServer {
	h := &healthServer{Server: health.NewServer(), g: g}
	h.Server.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	h.Server.SetServingStatus(GRPCServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	h.sync()
	return h
}

// sync marks the services SERVING once a snapshot exists and reports
// whether one does. After Shutdown the health server ignores the change.
func (h *healthServer) sync() bool {
	if h.g.snap.Load() == nil {
		return false
	}
	h.serving.Do(func() {
		h.Server.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		h.Server.SetServingStatus(GRPCServiceName, healthpb.HealthCheckResponse_SERVING)
	})
	return true
}

func (h *healthServer) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.sync()
	return h.Server.Check(ctx, req)
}

func (h *healthServer) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	h.sync()
	return h.Server.List(ctx, req)
}

func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if !h.sync() {
		ctx, cancel := context.WithCancel(stream.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(healthPollInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if h.sync() {
						return
					}
				}
			}
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	return h.Server.Watch(req, stream)
}

// incomingHeader reads a gRPC request's metadata like an HTTP header
// (sticky and segment keys).
// peerAddr is the gRPC client's address, for counting failed
// authentications per client.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func incomingHeader(ctx context.Context) func(string) string {
	md, _ := grpcmd.FromIncomingContext(ctx)
	return func(name string) string {
		if v := md.Get(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}
