// Package oippb is the generated Go code for the Open Inference Protocol
// (KServe v2) gRPC service, from proto/inference/v2/grpc_predict_v2.proto.
//
// Do not edit the .pb.go files: change the .proto and run
// scripts/genproto.sh, which pins buf, protoc-gen-go and
// protoc-gen-go-grpc so the output is reproducible. The messages, field
// numbers and the service name (inference.GRPCInferenceService) are those
// of the published protocol, so existing Triton and KServe clients work
// unchanged. The gateway package implements the service; this package only
// holds the wire types.
package oippb
