#!/bin/sh
# Regenerates the Go code for proto/ (internal/oip/oippb) with pinned tools:
# buf v1.75.0, protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2.
# The generated files are committed; CI can check they are current with
#   scripts/genproto.sh && git diff --exit-code internal/oip/oippb
# The first run builds buf (a few minutes on two cores); later runs are cached.
set -eu
cd "$(dirname "$0")/.."
BUF="go run github.com/bufbuild/buf/cmd/buf@v1.75.0"
# GOFLAGS from the environment (e.g. -mod=vendor) must not leak into the
# tool builds, which happen outside this module.
export GOFLAGS=-buildvcs=false
$BUF lint proto
$BUF generate --template proto/buf.gen.yaml proto
gofmt -l internal/oip/oippb
