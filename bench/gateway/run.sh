#!/usr/bin/env bash
# run.sh - Sluice's gateway against nginx, Go's ReverseProxy and a direct
# call, with the shared peer-proxy harness: one harness run for the canary
# row and one for the canary+shadow row (the harness takes one gateway row
# per run), each with the same peer rows so that ratios are taken within
# a run.
#
#   bench/gateway/run.sh                  # both runs, ROUNDS=3 DURATION=10
#   ROUNDS=1 DURATION=5 VARIANTS=canary bench/gateway/run.sh   # quick check
#
# Environment:
#   HARNESS   the harness folder (default: ../shared/bench beside the repo)
#   VARIANTS  "canary shadow" (default), or one of them
#   TARGETS   peer rows (default: direct nginx nginx-canary nginx-shadow goproxy goproxy-shadow)
#   ROUNDS DURATION WARMUP QUIET_WAIT WORK ...  passed to the harness
#   SLUICE_BIN  a sluice binary to use instead of building this checkout
#   SLUICE_PIPELINE=N  push the versions with --pipeline N (rows named
#               sluice-canary-pipeline16 and so on; default 0: off)
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/bench}
[[ -x $HARNESS/peer-bench.sh ]] || { echo "run.sh: no peer-bench.sh in $HARNESS (set HARNESS)" >&2; exit 1; }
export WORK=${WORK:-/tmp/gwbench}
export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10}
export TARGETS=${TARGETS:-"direct nginx nginx-canary nginx-shadow goproxy goproxy-shadow"}
VARIANTS=${VARIANTS:-"canary shadow"}

if [[ -z ${SLUICE_BIN:-} ]]; then
  SLUICE_BIN=$WORK/bin/sluice
  mkdir -p "$WORK/bin"
  echo "run.sh: building $SLUICE_BIN from $REPO ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))" >&2
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$SLUICE_BIN" ./cmd/sluice)
fi
export SLUICE_BIN
export SLUICE_PIPELINE=${SLUICE_PIPELINE:-0}
suffix=
[[ $SLUICE_PIPELINE -gt 1 ]] && suffix=-pipeline$SLUICE_PIPELINE

for v in $VARIANTS; do
  case $v in
    canary) name=sluice-canary shadow=0 ;;
    shadow) name=sluice-canary-shadow shadow=1 ;;
    *) echo "run.sh: unknown variant $v (canary, shadow)" >&2; exit 1 ;;
  esac
  echo "run.sh: harness run with row $name" >&2
  name+=$suffix
  GATEWAY_NAME=$name SLUICE_SHADOW=$shadow "$HARNESS/peer-bench.sh" "$HERE/sluice-gateway.sh"
done
