package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/remote"
)

func newModelCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Push, list and inspect model versions; move aliases",
	}
	cmd.AddCommand(newModelPushCmd(e), newModelListCmd(e), newModelShowCmd(e), newModelAliasCmd(e))
	return cmd
}

func newModelPushCmd(e *env) *cobra.Command {
	var format, description, signature, urls, protocol, signKey string
	var timeout time.Duration
	var pipeline int
	var labels, metrics, params []string
	var baselineFile string
	var baselineCategorical []string
	cmd := &cobra.Command{
		Use:   "push NAME FILE | push NAME --format http --url URL[,URL...]",
		Short: "Push a model file as the next version of NAME",
		Long: `push uploads FILE as version N+1 of model NAME (the model is created on first push).
Versions are immutable; the file is stored by its sha256 and deduplicated. The server
loads the file before accepting it, so a corrupt or unsupported file is refused.

Formats: xgboost (Booster.save_model JSON), lightgbm (model.txt), linear (Sluice's linear
JSON), onnx; detected from the file when --format is not given. The signature (feature names and
types, outputs) is read from the file; give --signature for formats that carry no names.

With --format http there is no file: the version is a model served by an external model
server speaking Open Inference Protocol v2 (Triton, KServe, MLServer) or TF Serving REST,
at one or more replica URLs. Sluice health-checks them, applies --timeout, and retries a
failed call once on another replica.

With --baseline the training sample (a CSV with a header row) is summarised into the
version's drift baseline: per-feature deciles and histograms (numeric), frequencies
(categorical), and the distribution of the version's own predictions on those rows.
Live traffic is compared with it (sluice drift NAME).`,
		Example: `  sluice model push fraud model.json
  sluice model push fraud model.txt --format lightgbm --description "retrained on May data" \
      --label team=risk --metric auc=0.94
  sluice model push churn weights.json --signature signature.json
  sluice model push fraud model.json --baseline train.csv
  sluice model push fraud --format http --url http://triton:8000/v2/models/fraud --timeout 2s
  sluice model push fraud --format http --protocol tfserving --url http://tfs:8501/v1/models/fraud \
      --signature signature.json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			md := apiclient.PushMetadata{Format: format, Description: description}
			var err error
			if md.Labels, err = parseKV("--label", labels); err != nil {
				return err
			}
			if md.Params, err = parseKV("--param", params); err != nil {
				return err
			}
			if len(metrics) > 0 {
				md.Metrics = map[string]float64{}
				kv, err := parseKV("--metric", metrics)
				if err != nil {
					return err
				}
				for k, v := range kv {
					x, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return fmt.Errorf("--metric %s=%s: value must be a number", k, v)
					}
					md.Metrics[k] = x
				}
			}
			if signature != "" {
				b, err := os.ReadFile(signature)
				if err != nil {
					return fmt.Errorf("--signature: %w", err)
				}
				if !json.Valid(b) {
					return fmt.Errorf("--signature: %s is not valid JSON", signature)
				}
				md.Signature = b
			}
			var artifact io.Reader
			switch {
			case urls != "":
				if len(args) == 2 {
					return fmt.Errorf("give either FILE or --url, not both")
				}
				if md.Format != "" && md.Format != "http" {
					return fmt.Errorf("--url: versions served by a model server have --format http")
				}
				doc := remote.Document{URLs: strings.Split(urls, ","), Protocol: remote.Protocol(protocol), Timeout: timeout, Pipeline: pipeline}
				if md.Signature != nil {
					doc.Signature = new(inference.Signature)
					if err := json.Unmarshal(md.Signature, doc.Signature); err != nil {
						return fmt.Errorf("--signature: %w", err)
					}
					md.Signature = nil
				}
				b, err := doc.Marshal()
				if err != nil {
					return err
				}
				md.Format = "http"
				artifact = bytes.NewReader(b)
			case len(args) == 2:
				for _, name := range []string{"protocol", "timeout", "pipeline"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s goes with --url: a file's settings are in the file", name)
					}
				}
				f, err := os.Open(args[1])
				if err != nil {
					return fmt.Errorf("opening model file: %w", err)
				}
				defer f.Close()
				artifact = f
			default:
				return fmt.Errorf("give the model FILE, or --format http --url URL for a model server")
			}
			if signKey != "" {
				data, err := io.ReadAll(artifact)
				if err != nil {
					return fmt.Errorf("reading model file: %w", err)
				}
				if md.ArtifactSignature, err = signArtifact(signKey, args[0], data); err != nil {
					return err
				}
				artifact = bytes.NewReader(data)
			}
			var baseline io.Reader
			if baselineFile != "" {
				f, err := os.Open(baselineFile)
				if err != nil {
					return fmt.Errorf("--baseline: %w", err)
				}
				defer f.Close()
				baseline = f
				md.BaselineCategorical = baselineCategorical
			}
			v, err := e.client().PushVersionWithBaseline(e.ctx, args[0], md, artifact, baseline)
			if err != nil {
				return err
			}
			return e.emit(v, func() error {
				fmt.Fprintf(e.stdout, "Pushed %s version %d (%s, %s, %s)\n", v.Model, v.Version, v.Format, humanBytes(v.Size), short(v.Digest))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&baselineFile, "baseline", "", "training sample CSV summarised into the version's drift baseline")
	f.StringSliceVar(&baselineCategorical, "baseline-categorical", nil, "baseline columns of numeric codes to compare as categories")
	f.StringVar(&format, "format", "", "model format: xgboost, lightgbm, linear, onnx, http (default: detect)")
	f.StringVar(&description, "description", "", "what this version is")
	f.StringArrayVar(&labels, "label", nil, "label k=v (repeatable)")
	f.StringArrayVar(&metrics, "metric", nil, "metric k=number, e.g. auc=0.94 (repeatable)")
	f.StringArrayVar(&params, "param", nil, "runtime parameter k=v, e.g. threads=2 (repeatable)")
	f.StringVar(&signature, "signature", "", "JSON file with the signature (inputs with features, outputs)")
	f.StringVar(&signKey, "sign-key", os.Getenv("SLUICE_SIGN_KEY"), "ed25519 private key (sluice keys generate) to sign the artifact with (env SLUICE_SIGN_KEY)")
	f.StringVar(&urls, "url", "", "--format http: the model's URL on each replica, comma-separated")
	f.StringVar(&protocol, "protocol", "v2", "--format http: v2 (Open Inference Protocol) or tfserving")
	f.DurationVar(&timeout, "timeout", 0, "--format http: per-request timeout (default 5s)")
	f.IntVar(&pipeline, "pipeline", 0, "--format http: write up to N concurrent calls together on one connection (HTTP/1.1 pipelining; 0: off)")
	return cmd
}

func parseKV(flag string, items []string) (map[string]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, it)
		}
		out[k] = v
	}
	return out, nil
}

func newModelListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List models",
		Example: "  sluice model list\n  sluice model list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := e.client().ListModels(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(ms, func() error {
				rows := make([][]string, len(ms))
				for i, m := range ms {
					rows[i] = []string{m.Name, strconv.Itoa(m.LatestVersion), strconv.Itoa(m.Versions), aliasList(m.Aliases), m.UpdatedAt.Local().Format(time.DateTime)}
				}
				return e.table([]string{"NAME", "LATEST", "VERSIONS", "ALIASES", "UPDATED"}, rows)
			})
		},
	}
}

func aliasList(a map[string]int) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s→%d", k, a[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func newModelShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME[@VERSION|@ALIAS]",
		Short: "Show a model's versions, or one version with its signature",
		Example: `  sluice model show fraud            # every version
  sluice model show fraud@3          # version 3 with its signature
  sluice model show fraud@production # the version the alias points to`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, one := strings.Cut(args[0], "@")
			c := e.client()
			if !one {
				vs, err := c.ListVersions(e.ctx, name)
				if err != nil {
					return err
				}
				return e.emit(vs, func() error {
					rows := make([][]string, len(vs))
					for i, v := range vs {
						rows[i] = []string{strconv.Itoa(v.Version), v.Format, humanBytes(v.Size), short(v.Digest), strings.Join(v.Aliases, ","), v.CreatedAt.Local().Format(time.DateTime), v.Description}
					}
					return e.table([]string{"VERSION", "FORMAT", "SIZE", "DIGEST", "ALIASES", "CREATED", "DESCRIPTION"}, rows)
				})
			}
			v, err := c.GetVersion(e.ctx, name, ref)
			if err != nil {
				return err
			}
			return e.emit(v, func() error {
				if err := e.showVersion(v); err != nil {
					return err
				}
				if v.Format == "http" {
					e.showRemote(c, name, strconv.Itoa(v.Version))
				}
				return nil
			})
		},
	}
}

func (e *env) showVersion(v apiclient.Version) error {
	w := e.stdout
	fmt.Fprintf(w, "Model:       %s\nVersion:     %d\nFormat:      %s\nDigest:      %s\nSize:        %s\nCreated:     %s by %s\n",
		v.Model, v.Version, v.Format, v.Digest, humanBytes(v.Size), v.CreatedAt.Local().Format(time.DateTime), v.CreatedBy)
	if len(v.Aliases) > 0 {
		fmt.Fprintf(w, "Aliases:     %s\n", strings.Join(v.Aliases, ", "))
	}
	if v.Description != "" {
		fmt.Fprintf(w, "Description: %s\n", v.Description)
	}
	for _, k := range sortedKeys(v.Labels) {
		fmt.Fprintf(w, "Label:       %s=%s\n", k, v.Labels[k])
	}
	for _, k := range sortedKeys(v.Metrics) {
		fmt.Fprintf(w, "Metric:      %s=%g\n", k, v.Metrics[k])
	}
	var sig inference.Signature
	if err := json.Unmarshal(v.Signature, &sig); err != nil {
		return nil
	}
	fmt.Fprintln(w, "Signature:")
	for _, t := range sig.Inputs {
		fmt.Fprintf(w, "  input  %s %s %v", t.Name, t.Datatype, t.Shape)
		if t.AllowMissing {
			fmt.Fprint(w, " (missing values allowed)")
		}
		fmt.Fprintln(w)
		for i, f := range t.Features {
			typ := f.Type
			if typ == "" {
				typ = "float"
			}
			fmt.Fprintf(w, "    %3d  %-32s %s\n", i, f.Name, typ)
		}
	}
	for _, t := range sig.Outputs {
		fmt.Fprintf(w, "  output %s %s %v", t.Name, t.Datatype, t.Shape)
		if len(t.Labels) > 0 {
			fmt.Fprintf(w, " classes %s", strings.Join(t.Labels, ","))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// showRemote prints where an http version's model server is and how it
// is called, from the version's document; header values are not shown.
func (e *env) showRemote(c *apiclient.Client, model, version string) {
	w := e.stdout
	data, err := c.Artifact(e.ctx, model, version)
	var d *remote.Document
	if err == nil {
		d, err = remote.ParseDocument(data)
	}
	if err != nil {
		fmt.Fprintf(w, "Server:      (document not read: %v)\n", err)
		return
	}
	for i, u := range d.URLs {
		label := "Server:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-12s %s\n", label, u)
	}
	fmt.Fprintf(w, "Protocol:    %s\nTimeout:     %s\nHealth:      every %s\n", d.Protocol, d.Timeout, d.HealthInterval)
	if d.Pipeline > 1 {
		fmt.Fprintf(w, "Pipeline:    up to %d calls per connection at once\n", d.Pipeline)
	} else {
		fmt.Fprintln(w, "Pipeline:    off")
	}
	if len(d.Headers) > 0 {
		fmt.Fprintf(w, "Headers:     %s (values not shown)\n", strings.Join(sortedKeys(d.Headers), ", "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func newModelAliasCmd(e *env) *cobra.Command {
	var del, history bool
	cmd := &cobra.Command{
		Use:   "alias NAME [VERSION ALIAS]",
		Short: "Move an alias (stage) to a version, delete it, or show alias history",
		Long: `alias points ALIAS (e.g. staging, production) of model NAME at VERSION. Endpoints that
serve NAME@ALIAS switch to the new version at once. Every move is kept in the history.`,
		Example: `  sluice model alias fraud 3 production
  sluice model alias fraud --delete staging
  sluice model alias fraud --history`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			switch {
			case history:
				hs, err := c.AliasHistory(e.ctx, args[0])
				if err != nil {
					return err
				}
				return e.emit(hs, func() error {
					rows := make([][]string, len(hs))
					for i, h := range hs {
						prev := "-"
						if h.Previous > 0 {
							prev = strconv.Itoa(h.Previous)
						}
						to := strconv.Itoa(h.Version)
						if h.Version == 0 {
							to = "(deleted)"
						}
						rows[i] = []string{h.ChangedAt.Local().Format(time.DateTime), h.Alias, prev, to, h.ChangedBy}
					}
					return e.table([]string{"WHEN", "ALIAS", "FROM", "TO", "BY"}, rows)
				})
			case del:
				if len(args) != 2 {
					return fmt.Errorf("usage: sluice model alias NAME --delete ALIAS")
				}
				if err := c.DeleteAlias(e.ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Deleted alias %s of %s\n", args[1], args[0])
				return nil
			}
			if len(args) != 3 {
				return fmt.Errorf("usage: sluice model alias NAME VERSION ALIAS")
			}
			v, err := strconv.Atoi(args[1])
			if err != nil || v <= 0 {
				return fmt.Errorf("VERSION: %q is not a positive version number", args[1])
			}
			ch, err := c.SetAlias(e.ctx, args[0], args[2], v)
			if err != nil {
				return err
			}
			return e.emit(ch, func() error {
				if ch.Previous > 0 {
					fmt.Fprintf(e.stdout, "Moved %s@%s from version %d to %d\n", ch.Model, ch.Alias, ch.Previous, ch.Version)
				} else {
					fmt.Fprintf(e.stdout, "Set %s@%s to version %d\n", ch.Model, ch.Alias, ch.Version)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&del, "delete", false, "delete the alias")
	cmd.Flags().BoolVar(&history, "history", false, "show every alias move of the model")
	return cmd
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// short abbreviates a digest for tables.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
