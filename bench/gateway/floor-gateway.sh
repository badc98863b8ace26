#!/usr/bin/env bash
# floor-gateway.sh - a GATEWAY_CMD for the shared peer-proxy harness that
# runs floor/ (a Go proxy with none of Sluice's work) instead of Sluice:
# the cost floor of goroutines, Go's network poller and two backend calls'
# worth of system calls on this machine.
#
#   GATEWAY_NAME=go-floor TARGETS="direct nginx-canary" \
#     ../../../shared/bench/peer-bench.sh bench/gateway/floor-gateway.sh
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/gwbench}
: "${GATEWAY_ADDR:?set by peer-bench.sh}" "${STABLE_URL:?}" "${CANARY_URL:?}"
mkdir -p "$WORK/bin"
(cd "$REPO" && CGO_ENABLED=0 go build -o "$WORK/bin/floor" ./bench/gateway/floor)
exec "$WORK/bin/floor" "$GATEWAY_ADDR" "${STABLE_URL#http://}" "${CANARY_URL#http://}"
