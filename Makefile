# Convenience targets. The two commands a user needs work without make:
#   go run ./cmd/sluice serve examples/xgboost/breast_cancer.json
#   go test ./...

GO ?= go
FUZZTIME ?= 60s

.PHONY: build test run onnxruntime bench fuzz vet ci bench-gateway bench-gateway-pipeline bench-gateway-latency pgo exhaustive

build:
	$(GO) build -o sluice ./cmd/sluice

test:
	$(GO) test ./...

run:
	$(GO) run ./cmd/sluice serve examples/xgboost/breast_cancer.json

# Fetch the ONNX Runtime library into third_party/onnxruntime (git-ignored).
onnxruntime:
	scripts/onnxruntime.sh

vet:
	gofmt -l $$(git ls-files '*.go')
	$(GO) vet ./...

ci:
	CI=true .ci/run

# Benchmarks of the hot path; see docs/benchmarks.md for the peer comparisons.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/inference/... ./internal/oip/ ./internal/gateway/ ./internal/traffic/

# Run every fuzz target for FUZZTIME each (the seed corpora run in `go test`).
# Checks every float32 the OIP encoder can write against strconv (minutes).
exhaustive:
	SLUICE_EXHAUSTIVE=1 $(GO) test ./internal/oip -run Exhaustive -timeout 60m -v

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Batch scoring throughput against XGBoost's own predictor (docs/benchmarks.md).
bench-batch:
	bench/batch/run.sh

# Batch scoring memory on a large generated CSV (BATCH_ROWS rows; the
# default, 25 million, is about 5.1 GB): peak RSS must stay flat, whatever
# the file's size. Not part of CI.
BATCH_ROWS ?= 25000000
bench-batch-memory:
	bench/batch/memory.sh $(BATCH_ROWS)

# The gateway against nginx and Go's ReverseProxy on the shared peer
# harness (docs/benchmarks.md), canary and canary + shadow rows; about 12
# minutes. Not part of CI.
bench-gateway:
	bench/gateway/run.sh

# The same with the versions pushed with --pipeline 16.
bench-gateway-pipeline:
	SLUICE_PIPELINE=16 bench/gateway/run.sh

# The same with one connection: the latency the gateway adds, without
# queueing.
bench-gateway-latency:
	CONNS=1 ROUNDS=3 DURATION=8 TARGETS="direct nginx-canary nginx-shadow" bench/gateway/run.sh

# Regenerate cmd/sluice/default.pgo, the CPU profile `go build` uses for
# profile-guided optimization of the sluice binary: the lean inference path
# to external model servers (canary, 95/5; one connection, and 32 with the
# versions' calls pipelined) and pipelined shadow copies.
pgo:
	$(GO) test ./internal/gateway/ -run '^$$' -bench 'HarnessRequestLean' -benchtime 8s -cpuprofile /tmp/sluice-pgo-lean.pprof -o /tmp/sluice-pgo-lean.test
	$(GO) test ./internal/gateway/ -run '^$$' -bench 'MirrorRemote/pipeline=default' -benchtime 4s -cpuprofile /tmp/sluice-pgo-mirror.pprof -o /tmp/sluice-pgo-mirror.test
	$(GO) tool pprof -proto /tmp/sluice-pgo-lean.pprof /tmp/sluice-pgo-mirror.pprof > cmd/sluice/default.pgo
