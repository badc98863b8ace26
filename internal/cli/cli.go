// Package cli is Sluice's command line: the server and the client commands
// that drive it through the control API.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/version"
)

// DefaultServer is the control API address when neither --server nor
// SLUICE_SERVER is given.
const DefaultServer = "http://127.0.0.1:8080"

// env holds what every command shares.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	server string
	output string
	creds  credentials
}

// client returns the API client with the caller's credentials.
func (e *env) client() *apiclient.Client {
	opts, err := e.clientOptions(e.server, "")
	if err != nil {
		fmt.Fprintln(e.stderr, "Warning:", err)
	}
	return apiclient.New(e.server, opts...)
}

// Main runs the command line with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, errDiffers) {
			return 1
		}
		fmt.Fprintln(stderr, "Error:", describe(err))
		var ae *apiclient.Error
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			return 2
		}
		return 1
	}
	return 0
}

// describe turns an error into one line for a person.
func describe(err error) string {
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s (%s, HTTP %d)", ae.Message, ae.Code, ae.Status)
	}
	return err.Error()
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Sluice takes trained models to production and keeps them healthy",
		Long: `Sluice is a model registry, a model server and a deployment controller in one binary.

Start a server, push a model version, create an endpoint, call it:

  sluice server --data-dir ./sluice-data &
  sluice model push fraud model.json
  sluice endpoint create fraud --model fraud --version 1
  curl -s localhost:8080/v1/endpoints/fraud:predict -d '{"instances":[{"amount":12.5}]}'

Client commands find the server through --server or SLUICE_SERVER, and their API token
through --token, SLUICE_TOKEN, or the admin token the server wrote to ./sluice-data/admin.token
on its first start (when the server runs on this machine).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	server := os.Getenv("SLUICE_SERVER")
	if server == "" {
		server = DefaultServer
	}
	root.PersistentFlags().StringVar(&e.server, "server", server, "Sluice server URL (env SLUICE_SERVER)")
	root.PersistentFlags().StringVarP(&e.output, "output", "o", "table", "output format: table, json or yaml")
	clientFlags(root, &e.creds)
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if e.output != "table" && e.output != "json" && e.output != "yaml" {
			return fmt.Errorf("--output: %q is not one of table, json, yaml", e.output)
		}
		return nil
	}
	root.AddCommand(
		newServerCmd(e),
		newServeCmd(e),
		newModelCmd(e),
		newEndpointCmd(e),
		newPredictCmd(e),
		newFeedbackCmd(e),
		newLogsCmd(e),
		newDriftCmd(e),
		newAlertsCmd(e),
		newBatchCmd(e),
		newJobCmd(e),
		newRolloutCmd(e),
		newStreamCmd(e),
		newRollbackCmd(e),
		newApplyCmd(e),
		newDiffCmd(e),
		newGetCmd(e),
		newAdviseCmd(e),
		newTokenCmd(e),
		newAuditCmd(e),
		newKeysCmd(e),
		&cobra.Command{
			Use:   "version",
			Short: "Print Sluice's version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, args []string) {
				fmt.Fprintln(e.stdout, "sluice", version.String())
			},
		},
	)
	root.AddCommand(newApprovalCmds(e)...)
	return root
}

// printFlag gives a command whose own --output names a file or directory
// (batch run, job submit) the -o of every other command, as --print: its
// local --output hides the global one, and with it -o.
func printFlag(cmd *cobra.Command, e *env) {
	cmd.Flags().StringVarP(&e.output, "print", "o", "table", "print the result as table, json or yaml (here --output names the output)")
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func (e *env) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// emit prints v as JSON with -o json, as YAML with -o yaml, else calls
// tableFn.
func (e *env) emit(v any, tableFn func() error) error {
	switch e.output {
	case "json":
		return e.printJSON(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	return tableFn()
}
