package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/server"
)

// serverFlags binds the flags `server` and `serve` share, with SLUICE_*
// environment variables as defaults.
func serverFlags(cmd *cobra.Command, cfg *server.Config, logLevel, logFormat *string) {
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", envOr("SLUICE_ADDR", "127.0.0.1:8080"), "listen address (env SLUICE_ADDR)")
	f.StringVar(&cfg.GRPCAddr, "grpc-addr", os.Getenv("SLUICE_GRPC_ADDR"), "Open Inference Protocol gRPC listen address, e.g. 127.0.0.1:8081; empty: off (env SLUICE_GRPC_ADDR)")
	f.StringVar(&cfg.DataDir, "data-dir", envOr("SLUICE_DATA_DIR", "./sluice-data"), "directory for the embedded store and artifacts (env SLUICE_DATA_DIR)")
	f.StringVar(&cfg.Store, "store", os.Getenv("SLUICE_STORE"), "store DSN, e.g. postgres://user@host/db; empty means SQLite in --data-dir (env SLUICE_STORE)")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", envInt("SLUICE_MAX_BODY_BYTES", 32<<20), "largest inference request body; larger ones get 413 (env SLUICE_MAX_BODY_BYTES)")
	f.Int64Var(&cfg.MaxArtifactBytes, "max-artifact-bytes", envInt("SLUICE_MAX_ARTIFACT_BYTES", 2<<30), "largest model file a push accepts (env SLUICE_MAX_ARTIFACT_BYTES)")
	f.Int64Var(&cfg.ModelMemory, "model-memory", envInt("SLUICE_MODEL_MEMORY", 0), "memory budget in bytes for loaded versions; versions no endpoint routes to are unloaded least-recently-used above it (0: no limit; env SLUICE_MODEL_MEMORY)")
	f.StringVar(&cfg.PredictionLog, "prediction-log", os.Getenv("SLUICE_PREDICTION_LOG"), "prediction log directory (default DATA_DIR/predictions; \"off\" disables it; env SLUICE_PREDICTION_LOG)")
	f.Float64Var(&cfg.PredictionLogSample, "prediction-log-sample", 1, "share of predictions logged, 0..1")
	f.StringVar(&cfg.PredictionLogConfig, "prediction-log-config", "", "YAML/JSON prediction log config: several sinks (files, webhooks), sampling, redaction (docs/prediction-log.md)")
	f.IntVar(&cfg.FeedbackMemory, "feedback-memory", 1_000_000, "answered requests remembered for feedback to join")
	f.DurationVar(&cfg.FeedbackHorizon, "feedback-horizon", 24*time.Hour, "how long answered requests are remembered for feedback")
	f.StringVar(&cfg.FeedbackTopic, "feedback-topic", os.Getenv("SLUICE_FEEDBACK_TOPIC"), "broker URL feedback is read from, e.g. nats://127.0.0.1:4222/feedback (env SLUICE_FEEDBACK_TOPIC; docs/streaming.md)")
	f.DurationVar(&cfg.StreamAckWait, "stream-ack-wait", 30*time.Second, "how long a broker waits for a stream's acknowledgement before delivering a message again (how soon a crashed node's messages are replayed)")
	f.IntVar(&cfg.MirrorQueue, "mirror-queue", 4096, "shadow/challenger copies waiting at most; more are dropped and counted")
	f.DurationVar(&cfg.MirrorGather, "mirror-gather", 500*time.Microsecond, "how long a shadow/challenger copy to an external model server waits for others to share one pipelined batch (never delays answers); negative: send each at once")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 2*time.Second, "how often to check the store for changes made by other nodes")
	f.DurationVar(&cfg.RolloutTick, "rollout-tick", time.Second, "how often the rollout controller looks at active rollouts")
	f.StringVar(&cfg.DriftWindow, "drift-window", envOr("SLUICE_DRIFT_WINDOW", "1h"), "live drift window per endpoint and version: a duration (\"1h\") or a row count (\"10000\") (env SLUICE_DRIFT_WINDOW)")
	f.DurationVar(&cfg.PerformanceWindow, "performance-window", time.Hour, "window of labels received that model-quality metrics cover")
	f.StringVar(&cfg.AlertRules, "alert-rules", os.Getenv("SLUICE_ALERT_RULES"), "YAML file of alerting rules, webhooks and Alertmanagers (docs/monitoring.md; env SLUICE_ALERT_RULES)")
	f.StringVar(&cfg.ONNXRuntimeLib, "onnxruntime-lib", "", "path of the ONNX Runtime shared library (env SLUICE_ONNXRUNTIME_LIB; fetch it with scripts/onnxruntime.sh)")
	f.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", os.Getenv("SLUICE_OTLP_ENDPOINT"), "send OpenTelemetry traces to this OTLP collector: http://host:4318 (OTLP/HTTP) or grpc://host:4317 (OTLP/gRPC); empty: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (env SLUICE_OTLP_ENDPOINT)")
	f.StringVar(&cfg.Role, "role", envOr("SLUICE_ROLE", "all"), "all, or worker: only the batch job worker, claiming shards from the shared store (env SLUICE_ROLE)")
	f.StringSliceVar(&cfg.JobRoots, "job-roots", splitList(os.Getenv("SLUICE_JOB_ROOTS")), "directories batch jobs may read inputs from and write outputs to, comma-separated; empty: any path the server can reach (env SLUICE_JOB_ROOTS)")
	f.BoolVar(&cfg.NoJobWorker, "no-job-worker", false, "do not score batch shards in this process (run --role worker processes instead)")
	f.StringVar(&cfg.WorkerID, "worker-id", os.Getenv("SLUICE_WORKER_ID"), "name of this process in batch shard claims (default host-pid; env SLUICE_WORKER_ID)")
	f.DurationVar(&cfg.JobLease, "job-lease", 30*time.Second, "how long a claimed batch shard stays this worker's without a heartbeat; a dead worker's shards are claimed again after it")
	f.StringVar(logLevel, "log-level", envOr("SLUICE_LOG_LEVEL", "info"), "debug, info, warn or error (env SLUICE_LOG_LEVEL)")
	f.StringVar(logFormat, "log-format", envOr("SLUICE_LOG_FORMAT", "text"), "text or json (env SLUICE_LOG_FORMAT)")
	fastPathFlag(cmd, cfg)
	securityFlags(cmd, cfg)
}

// fastPathFlag binds --http-fast-path (env SLUICE_HTTP_FAST_PATH).
func fastPathFlag(cmd *cobra.Command, cfg *server.Config) {
	env := os.Getenv("SLUICE_HTTP_FAST_PATH")
	def, envErr := true, error(nil)
	if env != "" {
		if def, envErr = strconv.ParseBool(env); envErr != nil {
			envErr = fmt.Errorf("SLUICE_HTTP_FAST_PATH: %q is not true or false", env)
		}
	}
	var on bool
	cmd.Flags().BoolVar(&on, "http-fast-path", def, "answer the inference routes (POST .../infer, :predict) on plain HTTP/1.1 with a lean loop instead of net/http; "+
		"other routes, TLS and tracing use net/http either way (env SLUICE_HTTP_FAST_PATH)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if envErr != nil && !c.Flags().Changed("http-fast-path") {
			return envErr
		}
		cfg.NoHTTPFastPath = !on
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int64) int64 {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not one of text, json", format)
}

func newServerCmd(e *env) *cobra.Command {
	var cfg server.Config
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Sluice server (registry, control API and inference gateway)",
		Example: `  sluice server
  sluice server --addr 0.0.0.0:8080 --data-dir /var/lib/sluice
  sluice server --store postgres://sluice@db.internal/sluice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(e, logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = log
			return server.Run(e.ctx, cfg, nil)
		},
	}
	serverFlags(cmd, &cfg, &logLevel, &logFormat)
	return cmd
}

var nameRe = regexp.MustCompile(`[^a-z0-9._-]+`)

// defaultName derives a model name from a file name: breast_cancer.json → breast-cancer.
func defaultName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	n := nameRe.ReplaceAllString(strings.ReplaceAll(strings.ToLower(base), "_", "-"), "-")
	return strings.Trim(n, "-._")
}

func newServeCmd(e *env) *cobra.Command {
	var cfg server.Config
	var logLevel, logFormat, name, format, exampleCSV, signature string
	cmd := &cobra.Command{
		Use:   "serve MODEL_FILE",
		Short: "Serve one model file at once: start a server, push the file, create an endpoint",
		Long: `serve starts a Sluice server, pushes MODEL_FILE as a version of a model (unless the
latest version already holds the same file), points an endpoint of the same name at
it, and prints how to call it. It runs until interrupted; the data stays in --data-dir.`,
		Example: `  sluice serve examples/xgboost/breast_cancer.json
  sluice serve model.txt --name churn --format lightgbm --addr 127.0.0.1:9000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(e, logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = log
			file := args[0]
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("reading model file: %w", err)
			}
			if name == "" {
				name = defaultName(file)
			}
			md := apiclient.PushMetadata{Format: format}
			if signature == "" {
				if c := strings.TrimSuffix(file, filepath.Ext(file)) + ".signature.json"; fileExists(c) {
					signature = c
				}
			}
			if signature != "" {
				b, err := os.ReadFile(signature)
				if err != nil {
					return fmt.Errorf("--signature: %w", err)
				}
				md.Signature = b
			}
			if exampleCSV == "" {
				if c := strings.TrimSuffix(file, filepath.Ext(file)) + ".csv"; fileExists(c) {
					exampleCSV = c
				}
			}
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			ready := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- server.Run(ctx, cfg, func(addr string) { ready <- addr }) }()
			var addr string
			select {
			case addr = <-ready:
			case err := <-done:
				return err
			}
			url := server.URL(addr)
			if cfg.Security.TLSCert != "" {
				url = strings.Replace(url, "http://", "https://", 1)
			}
			opts, err := e.clientOptions(url, cfg.DataDir)
			if err != nil {
				cancel()
				<-done
				return err
			}
			if err := deployFile(ctx, e, apiclient.New(url, opts...), name, md, data, url, exampleCSV); err != nil {
				cancel()
				<-done
				return err
			}
			return <-done
		},
	}
	serverFlags(cmd, &cfg, &logLevel, &logFormat)
	cmd.Flags().StringVar(&name, "name", "", "model and endpoint name (default: derived from the file name)")
	cmd.Flags().StringVar(&format, "format", "", "model format (default: detected)")
	cmd.Flags().StringVar(&signature, "signature", "", "JSON signature file for models without feature names (default: MODEL_FILE with .signature.json, if present)")
	cmd.Flags().StringVar(&exampleCSV, "example-data", "", "CSV whose first row is used in the printed example call (default: MODEL_FILE with .csv, if present)")
	return cmd
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// deployFile pushes data unless the latest version is the same file, then
// creates or repoints the endpoint and prints how to call it.
func deployFile(ctx context.Context, e *env, c *apiclient.Client, name string, md apiclient.PushMetadata, data []byte, url, exampleCSV string) error {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	v, err := c.GetVersion(ctx, name, "latest")
	var ae *apiclient.Error
	switch {
	case err == nil && v.Digest == digest:
	case err == nil || (errors.As(err, &ae) && ae.Status == 404):
		if v, err = c.PushVersion(ctx, name, md, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("pushing %s: %w", name, err)
		}
	default:
		return err
	}
	ref := strconv.Itoa(v.Version)
	if _, err := c.GetEndpoint(ctx, name); err == nil {
		if _, err := c.UpdateEndpoint(ctx, name, apiclient.UpdateEndpointRequest{Version: ref}); err != nil {
			return err
		}
	} else if _, err := c.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: name, EndpointSpec: apiclient.EndpointSpec{Model: name, Version: ref}}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nServing %s version %d (%s) at %s\n\n", name, v.Version, v.Format, url)
	fmt.Fprintf(e.stdout, "  Metadata:  curl -s %s/v2/models/%s\n", url, name)
	var sig inference.Signature
	_ = json.Unmarshal(v.Signature, &sig)
	if in, ok := sig.TabularInput(); ok {
		inst := exampleInstance(in, exampleCSV)
		// Write the instance with its features in the model's order.
		var b strings.Builder
		row := make([]any, len(in.Features))
		for i, f := range in.Features {
			row[i] = inst[f.Name]
			k, _ := json.Marshal(f.Name)
			v, _ := json.Marshal(inst[f.Name])
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		fmt.Fprintf(e.stdout, "  Predict:   curl -s %s/v1/endpoints/%s:predict -d '{\"instances\":[{%s}]}'\n", url, name, b.String())
		type tensor struct {
			Name     string `json:"name"`
			Datatype string `json:"datatype"`
			Shape    []int  `json:"shape"`
			Data     []any  `json:"data"`
		}
		v2, _ := json.Marshal(map[string]any{"inputs": []tensor{{in.Name, "FP64", []int{1, len(row)}, row}}})
		fmt.Fprintf(e.stdout, "  OIP v2:    curl -s %s/v2/models/%s/infer -d '%s'\n", url, name, v2)
		switch v.Format {
		case "xgboost", "lightgbm", "linear":
			fmt.Fprintf(e.stdout, "  Explain:   add ?explain=true to either URL for per-feature contributions (docs/explanations.md)\n")
		}
	}
	fmt.Fprintf(e.stdout, "\nPress Ctrl-C to stop.\n")
	return nil
}

// exampleInstance returns one instance for the printed example: the first
// row of the example CSV when it has the model's columns, else zeros.
func exampleInstance(in inference.TensorSpec, csvPath string) map[string]any {
	inst := make(map[string]any, len(in.Features))
	for _, f := range in.Features {
		inst[f.Name] = 0
	}
	if csvPath == "" {
		return inst
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return inst
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err1 := r.Read()
	row, err2 := r.Read()
	if err1 != nil || err2 != nil || len(header) != len(row) {
		return inst
	}
	for i, h := range header {
		if _, ok := inst[h]; !ok {
			continue
		}
		if x, err := strconv.ParseFloat(row[i], 64); err == nil {
			inst[h] = x
		}
	}
	return inst
}

// splitList splits a comma-separated environment value, dropping empties.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
