#!/usr/bin/env bash
# sluice-gateway.sh - the GATEWAY_CMD that puts Sluice into the shared
# peer-proxy harness (../../../shared/bench/peer-bench.sh).
#
# It starts `sluice server` on $GATEWAY_ADDR with a throw-away data
# directory, registers the harness's three backends as versions 1, 2 and 3
# of model "m" (--format http, Open Inference Protocol v2), creates endpoint
# "m" with a $STABLE_WEIGHT/$CANARY_WEIGHT canary split of versions 1 and 2,
# optionally mirrors every request to version 3, and then stays in the
# foreground until the server exits, forwarding SIGTERM and SIGINT to it.
#
# Environment (the harness exports the first block):
#   GATEWAY_ADDR STABLE_URL CANARY_URL SHADOW_URL STABLE_WEIGHT CANARY_WEIGHT
#   SLUICE_SHADOW=1     also mirror every request to version 3 (--shadow 3)
#   SLUICE_PIPELINE=N   push the versions with --pipeline N: up to N calls made
#                       at the same moment share one connection (0: off)
#   SLUICE_BIN=PATH     the sluice binary to run; built from this checkout
#                       into $WORK/bin/sluice when unset
#   SLUICE_SERVER_ARGS  extra flags for `sluice server` (e.g. --feedback-memory 1000)
#   SLUICE_SERVER_ENV   extra environment for the server only (e.g. GOGC=400),
#                       so the harness's own Go processes keep their defaults
#   WORK=/tmp/gwbench   the harness's work folder
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/gwbench}
: "${GATEWAY_ADDR:?set by peer-bench.sh}" "${STABLE_URL:?}" "${CANARY_URL:?}" "${SHADOW_URL:?}"
STABLE_WEIGHT=${STABLE_WEIGHT:-95}
CANARY_WEIGHT=${CANARY_WEIGHT:-5}
SLUICE_SHADOW=${SLUICE_SHADOW:-0}
SLUICE_PIPELINE=${SLUICE_PIPELINE:-0}

log() { printf '[sluice-gateway %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ -z ${SLUICE_BIN:-} ]]; then
  SLUICE_BIN=$WORK/bin/sluice
  mkdir -p "$WORK/bin"
  log "building $SLUICE_BIN from $REPO"
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$SLUICE_BIN" ./cmd/sluice)
fi
[[ -x $SLUICE_BIN ]] || { log "ERROR: $SLUICE_BIN is not executable"; exit 1; }

DATA=$(mktemp -d "${TMPDIR:-/tmp}/sluice-gwbench.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# The harness backend reads {"inputs":[{"name":"input-0","shape":[1,8],
# "datatype":"FP32",...}]} and answers one output "p", FP32, shape [1]
# (configs/infer.lua, backend/main.go). A complete signature spares the
# metadata call, which that backend does not answer.
cat >"$DATA/signature.json" <<'EOF'
{
  "inputs":  [{"name": "input-0", "datatype": "FP32", "shape": [-1, 8]}],
  "outputs": [{"name": "p", "datatype": "FP32", "shape": [-1]}]
}
EOF

# shellcheck disable=SC2086 # SLUICE_SERVER_ENV and _ARGS are lists
env ${SLUICE_SERVER_ENV:-} "$SLUICE_BIN" server --addr "$GATEWAY_ADDR" --data-dir "$DATA" --log-level warn ${SLUICE_SERVER_ARGS:-} &
SERVER_PID=$!

export SLUICE_SERVER=http://$GATEWAY_ADDR
for ((i = 0; ; i++)); do
  curl -sf -o /dev/null -m 1 "$SLUICE_SERVER/v2/health/live" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { log "ERROR: sluice server exited during start-up"; exit 1; }
  ((i < 200)) || { log "ERROR: sluice server not live after 20s"; exit 1; }
  sleep 0.1
done

# The first start wrote an admin token into the data directory.
SLUICE_TOKEN=$(cat "$DATA/admin.token")
export SLUICE_TOKEN
sluice() { "$SLUICE_BIN" "$@" >&2; }
for u in "$STABLE_URL" "$CANARY_URL" "$SHADOW_URL"; do
  sluice model push m --format http --url "$u/v2/models/m" --signature "$DATA/signature.json" --pipeline "$SLUICE_PIPELINE"
done
sluice endpoint create m --model m --version 1
policy=(--weights "1=$STABLE_WEIGHT,2=$CANARY_WEIGHT")
[[ $SLUICE_SHADOW == 1 ]] && policy+=(--shadow 3)
sluice endpoint traffic m "${policy[@]}"
log "serving endpoint m on $GATEWAY_ADDR: ${policy[*]} (server pid $SERVER_PID)"

# `wait` returns early when a trapped signal arrives; the trap then stops
# the server.
wait "$SERVER_PID"
