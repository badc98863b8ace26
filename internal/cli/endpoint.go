package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/traffic"
)

func newEndpointCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "Create and manage endpoints: the stable names clients call",
	}
	cmd.AddCommand(newEndpointCreateCmd(e), newPerformanceCmd(e), newFairnessCmd(e), newEndpointListCmd(e), newEndpointShowCmd(e),
		newEndpointSetVersionCmd(e), newEndpointDeleteCmd(e), newEndpointHistoryCmd(e),
		newEndpointTrafficCmd(e), newEndpointCompareCmd(e), newEndpointProtectCmd(e), newEndpointRollingCmd(e))
	return cmd
}

func newEndpointCreateCmd(e *env) *cobra.Command {
	var req apiclient.CreateEndpointRequest
	var file, authMode, approval, sensHeader, sensFeature string
	cmd := &cobra.Command{
		Use:   "create NAME (--model MODEL --version VERSION|@ALIAS|latest | -f SPEC.yaml)",
		Short: "Create an endpoint serving a model version",
		Long: `create makes NAME callable at /v2/models/NAME/infer and /v1/endpoints/NAME:predict.
With --version @ALIAS the endpoint follows the alias: moving the alias switches it.`,
		Example: `  sluice endpoint create fraud --model fraud --version 3
  sluice endpoint create fraud --model fraud --version @production
  sluice endpoint create fraud -f examples/endpoints/canary.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if file != "" {
				var spec apiclient.EndpointSpec
				if err := readSpec(file, &spec); err != nil {
					return err
				}
				if req.Model != "" {
					spec.Model = req.Model
				}
				if req.Version != "" {
					spec.Version = req.Version
				}
				req.EndpointSpec = spec
			} else if req.Model == "" || req.Version == "" {
				return fmt.Errorf("give --model and --version, or the spec with -f")
			}
			if authMode != "" {
				req.Auth = authMode
			}
			if approval != "" {
				req.Approval = approval
			}
			if sensHeader != "" || sensFeature != "" {
				req.Monitoring = &apiclient.Monitoring{Sensitive: &traffic.Sticky{Header: sensHeader, Feature: sensFeature}}
			}
			ep, err := e.client().CreateEndpoint(e.ctx, req)
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Created endpoint %s serving %s version %d\n", ep.Name, ep.Spec.Model, ep.ServingVersion)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Model, "model", "", "model name")
	cmd.Flags().StringVar(&req.Version, "version", "", "version number, @alias or latest")
	cmd.Flags().StringVar(&req.Description, "description", "", "what the endpoint is for")
	cmd.Flags().StringVarP(&file, "file", "f", "", "endpoint spec as YAML or JSON (model, version or traffic, segmentBy, protection, auth, approval)")
	cmd.Flags().StringVar(&authMode, "auth", "", "who may call it: public (default) or token (an API token or client certificate)")
	cmd.Flags().StringVar(&approval, "approval", "", "required: production changes wait for a second person's approval")
	cmd.Flags().StringVar(&sensHeader, "sensitive-header", "", "request header holding the sensitive attribute fairness is measured across (e.g. X-Region)")
	cmd.Flags().StringVar(&sensFeature, "sensitive-feature", "", "input feature holding the sensitive attribute fairness is measured across")
	return cmd
}

func endpointRows(es []apiclient.Endpoint) [][]string {
	rows := make([][]string, len(es))
	for i, ep := range es {
		serving := strconv.Itoa(ep.ServingVersion)
		if ep.Spec.Traffic != nil {
			serving = "policy"
		}
		if ep.Error != "" {
			serving = "error: " + ep.Error
		}
		rows[i] = []string{ep.Name, ep.Spec.Model, ep.Spec.Version, serving, strconv.FormatInt(ep.Revision, 10), ep.UpdatedAt.Local().Format(time.DateTime)}
	}
	return rows
}

var endpointHeader = []string{"NAME", "MODEL", "VERSION", "SERVING", "REVISION", "UPDATED"}

func newEndpointListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := e.client().ListEndpoints(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(es, func() error { return e.table(endpointHeader, endpointRows(es)) })
		},
	}
}

func newEndpointShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show an endpoint and how to call it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			ep, err := c.GetEndpoint(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Endpoint:    %s\nModel:       %s\nVersion:     %s\nServing:     %d\nRevision:    %d\nUpdated:     %s\n",
					ep.Name, ep.Spec.Model, ep.Spec.Version, ep.ServingVersion, ep.Revision, ep.UpdatedAt.Local().Format(time.DateTime))
				if ep.Spec.Description != "" {
					fmt.Fprintf(e.stdout, "Description: %s\n", ep.Spec.Description)
				}
				if ep.Error != "" {
					fmt.Fprintf(e.stdout, "Error:       %s\n", ep.Error)
				}
				fmt.Fprintf(e.stdout, "Infer:       POST %s/v2/models/%s/infer\nPredict:     POST %s/v1/endpoints/%s:predict\n", c.Base(), ep.Name, c.Base(), ep.Name)
				if ep.Spec.Auth == "token" {
					fmt.Fprintln(e.stdout, "Auth:        inference needs a token")
				}
				if ep.Spec.Approval == "required" {
					fmt.Fprintln(e.stdout, "Approval:    rollouts wait for a second person")
				}
				if p := ep.Spec.Protection; p != nil {
					b, _ := yaml.Marshal(p)
					fmt.Fprintf(e.stdout, "Protection:\n%s", indent(string(b), "  "))
				}
				if m := ep.Spec.Monitoring; m != nil && m.Sensitive != nil {
					by := "header " + m.Sensitive.Header
					if m.Sensitive.Feature != "" {
						by = "feature " + m.Sensitive.Feature
					}
					fmt.Fprintf(e.stdout, "Fairness:    groups by %s\n", by)
				}
				if r := ep.Spec.Rolling; r != nil {
					fmt.Fprintf(e.stdout, "Rolling:     %d → %d, step %d of %d, %s", r.From, r.To, r.Step, r.Steps, r.State)
					if r.Reason != "" {
						fmt.Fprintf(e.stdout, ": %s", r.Reason)
					}
					fmt.Fprintln(e.stdout)
				}
				if ep.Spec.Traffic != nil {
					b, _ := yaml.Marshal(ep.Spec.Traffic)
					fmt.Fprintf(e.stdout, "Traffic:\n%s", indent(string(b), "  "))
				}
				if len(ep.Shares) > 0 || len(ep.Live) > 0 {
					fmt.Fprintln(e.stdout)
					return e.sharesTable(ep)
				}
				return nil
			})
		},
	}
}

func newEndpointSetVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "set-version NAME VERSION|@ALIAS|latest",
		Short: "Point an endpoint at another version, at once and without failing requests",
		Example: `  sluice endpoint set-version fraud 4
  sluice endpoint set-version fraud @production`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep, err := e.client().UpdateEndpoint(e.ctx, args[0], apiclient.UpdateEndpointRequest{Version: args[1]})
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Endpoint %s now serves %s version %d (revision %d)\n", ep.Name, ep.Spec.Model, ep.ServingVersion, ep.Revision)
				return nil
			})
		},
	}
}

func newEndpointDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an endpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteEndpoint(e.ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Deleted endpoint %s\n", args[0])
			return nil
		},
	}
}

func newEndpointHistoryCmd(e *env) *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "history NAME [--at TIME]",
		Short: "Show every revision of an endpoint and who made it, or what served it at a moment",
		Example: `  sluice endpoint history fraud
  sluice endpoint history fraud --at 2026-11-26T09:30:00Z
  sluice endpoint history fraud --at 2h        # two hours ago`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if at != "" {
				t, err := parseMoment(at, time.Now())
				if err != nil {
					return err
				}
				sv, err := e.client().ServedAt(e.ctx, args[0], t)
				if err != nil {
					return err
				}
				return e.emit(sv, func() error { return printServed(e, sv) })
			}
			es, err := e.client().EndpointHistory(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(es, func() error {
				rows := make([][]string, len(es))
				for i, ep := range es {
					serving := describeSpec(ep.Spec)
					if ep.Deleted {
						serving = "(deleted)"
					}
					rows[i] = []string{strconv.FormatInt(ep.Revision, 10), ep.UpdatedAt.Local().Format(time.RFC3339), orDash(ep.ChangedBy), ep.Spec.Model, serving}
				}
				return e.table([]string{"REVISION", "WHEN", "BY", "MODEL", "SERVING"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "say what served the endpoint at this RFC 3339 time, or this long ago (90m)")
	return cmd
}

// parseMoment reads an RFC 3339 time, a local "2006-01-02 15:04:05", or a
// duration meaning that long before now.
func parseMoment(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateTime, s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--at: %q is not an RFC 3339 time (2026-11-26T09:30:00Z), a local \"2026-11-26 09:30:00\" or a duration ago (90m)", s)
}

// describeSpec says in a few words what an endpoint spec serves.
func describeSpec(sp apiclient.EndpointSpec) string {
	if sp.Traffic == nil {
		return "version " + sp.Version
	}
	var parts []string
	p := sp.Traffic
	switch {
	case p.BlueGreen != nil:
		parts = append(parts, fmt.Sprintf("blue-green active %d", p.BlueGreen.Active))
		if p.BlueGreen.Preview != 0 {
			parts = append(parts, fmt.Sprintf("preview %d", p.BlueGreen.Preview))
		}
	case p.Bandit != nil:
		parts = append(parts, fmt.Sprintf("bandit %s over %v", p.Bandit.Algorithm, p.Bandit.Arms))
	default:
		total := 0
		for _, s := range p.Split {
			total += s.Weight
		}
		var ws []string
		for _, s := range p.Split {
			ws = append(ws, fmt.Sprintf("%d=%s%%", s.Version, strconv.FormatFloat(100*float64(s.Weight)/float64(max(total, 1)), 'f', -1, 64)))
		}
		parts = append(parts, "split "+strings.Join(ws, ","))
	}
	for _, sh := range p.Shadow {
		parts = append(parts, fmt.Sprintf("shadow %d", sh.Version))
	}
	for _, c := range p.Challengers {
		parts = append(parts, fmt.Sprintf("challenger %d", c))
	}
	return strings.Join(parts, ", ")
}

func printServed(e *env, sv apiclient.Served) error {
	fmt.Fprintf(e.stdout, "At %s endpoint %s (model %s) served:\n", sv.At.Local().Format(time.RFC3339), sv.Endpoint, sv.Spec.Model)
	rows := make([][]string, len(sv.Versions))
	for i, v := range sv.Versions {
		rows[i] = []string{strconv.Itoa(v.Version), v.Role, strconv.FormatFloat(100*v.Share, 'f', 1, 64) + "%"}
	}
	if err := e.table([]string{"VERSION", "ROLE", "SHARE"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Revision %d, written %s by %s.\n", sv.Revision, sv.RevisionAt.Local().Format(time.RFC3339), orDash(sv.RevisionBy))
	if sv.Ref != nil {
		fmt.Fprintf(e.stdout, "The spec follows %q, which pointed at version %d since %s (set by %s).\n",
			sv.Ref.Ref, sv.Ref.Version, sv.Ref.ChangedAt.Local().Format(time.RFC3339), orDash(sv.Ref.ChangedBy))
	}
	fmt.Fprintf(e.stdout, "Last change deciding it: %s by %s.\n", sv.ChangedAt.Local().Format(time.RFC3339), orDash(sv.ChangedBy))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newPredictCmd(e *env) *cobra.Command {
	var data, file string
	var cf csvPredict
	var explain bool
	cmd := &cobra.Command{
		Use:   "predict ENDPOINT",
		Short: "Score instances with an endpoint (the plain JSON form)",
		Long: `predict sends one request (-d or -f), or every row of a CSV file (--csv), one request
per row. With --csv it prints request_id,version,prediction per row (plus label
with --label-column), ready for sluice feedback upload once the labels are known;
--header-column X-Region=region sends a column's value as a request header.`,
		Example: `  sluice predict fraud -d '{"instances":[{"amount":12.5,"age":31}]}'
  sluice predict fraud -f request.json
  cat request.json | sluice predict fraud -f -
  sluice predict fraud --csv today.csv --ignore label --label-column label > answers.csv
  sluice predict fraud --explain -d '{"instances":[{"amount":12.5,"age":31}]}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cf.path != "" {
				if data != "" || file != "" {
					return fmt.Errorf("give either --csv or -d/-f, not both")
				}
				return e.predictCSV(args[0], cf)
			}
			var body []byte
			switch {
			case data != "" && file != "":
				return fmt.Errorf("give either -d or -f, not both")
			case data != "":
				body = []byte(data)
			case file == "-":
				b, err := io.ReadAll(e.stdin)
				if err != nil {
					return err
				}
				body = b
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				body = b
			default:
				return fmt.Errorf("give the request with -d JSON or -f FILE")
			}
			predict := e.client().Predict
			if explain {
				predict = e.client().PredictExplain
			}
			out, version, err := predict(e.ctx, args[0], body)
			if err != nil {
				return err
			}
			if e.output == "table" {
				fmt.Fprintf(e.stderr, "version %d\n", version)
			}
			fmt.Fprintln(e.stdout, strings.TrimSpace(string(out)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&data, "data", "d", "", "request body (JSON)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "file with the request body, or - for stdin")
	cmd.Flags().StringVar(&cf.path, "csv", "", "CSV file whose rows (features by column name) are scored")
	cmd.Flags().StringSliceVar(&cf.ignore, "ignore", nil, "--csv: columns that are not features")
	cmd.Flags().StringVar(&cf.label, "label-column", "", "--csv: column copied to the output as label (not sent)")
	cmd.Flags().StringSliceVar(&cf.headers, "header-column", nil, "--csv: HEADER=COLUMN sends the column's value as a request header (not as a feature)")
	cmd.Flags().BoolVar(&explain, "explain", false, "also return each row's per-feature contributions (TreeSHAP for tree models)")
	return cmd
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
