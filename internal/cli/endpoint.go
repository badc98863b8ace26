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
)

func newEndpointCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "Create and manage endpoints: the stable names clients call",
	}
	cmd.AddCommand(newEndpointCreateCmd(e), newEndpointListCmd(e), newEndpointShowCmd(e),
		newEndpointSetVersionCmd(e), newEndpointDeleteCmd(e), newEndpointHistoryCmd(e),
		newEndpointTrafficCmd(e), newEndpointCompareCmd(e), newEndpointProtectCmd(e), newEndpointRollingCmd(e))
	return cmd
}

func newEndpointCreateCmd(e *env) *cobra.Command {
	var req apiclient.CreateEndpointRequest
	var file, authMode, approval string
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
	return &cobra.Command{
		Use:   "history NAME",
		Short: "Show every revision of an endpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := e.client().EndpointHistory(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(es, func() error {
				rows := make([][]string, len(es))
				for i, ep := range es {
					rows[i] = []string{strconv.FormatInt(ep.Revision, 10), ep.Spec.Model, ep.Spec.Version, ep.UpdatedAt.Local().Format(time.DateTime)}
				}
				return e.table([]string{"REVISION", "MODEL", "VERSION", "WHEN"}, rows)
			})
		},
	}
}

func newPredictCmd(e *env) *cobra.Command {
	var data, file string
	var explain bool
	cmd := &cobra.Command{
		Use:   "predict ENDPOINT",
		Short: "Score instances with an endpoint (the plain JSON form)",
		Example: `  sluice predict fraud -d '{"instances":[{"amount":12.5,"age":31}]}'
  sluice predict fraud -f request.json
  cat request.json | sluice predict fraud -f -
  sluice predict fraud --explain -d '{"instances":[{"amount":12.5,"age":31}]}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
