package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/manifest"
	"github.com/sluicehq/sluice/internal/rollout"
)

func newRolloutCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Roll a candidate version out by a plan, with automated analysis and rollback",
		Long: `A rollout moves an endpoint from its stable version to a candidate step by
step (canary weights, pauses, shadow and challenger phases, a blue-green
switch, a bandit phase), judges the candidate against stable with
anytime-valid statistical tests, and promotes it or rolls it back on its own.`,
	}
	cmd.AddCommand(newRolloutCreateCmd(e), newRolloutListCmd(e), newRolloutStatusCmd(e),
		newRolloutPromoteCmd(e), newRolloutActionCmd(e, "abort", "Stop a rollout and send all traffic back to stable"),
		newRolloutActionCmd(e, "pause", "Freeze a rollout: traffic stays, steps and analysis wait"),
		newRolloutActionCmd(e, "resume", "Continue a paused rollout"),
		newRolloutDeleteCmd(e))
	return cmd
}

// readRollout reads one Rollout document from a YAML or JSON file ("-"
// for stdin), naming the bad field and its line when it does not decode.
func readRollout(e *env, file string) (rollout.Document, error) {
	docs, err := manifest.Load(e.stdin, file)
	if err != nil {
		return rollout.Document{}, err
	}
	if len(docs) != 1 || docs[0].Rollout == nil {
		return rollout.Document{}, fmt.Errorf("%s: want one Rollout document, found %d documents (sluice apply takes several)", file, len(docs))
	}
	return *docs[0].Rollout, nil
}

func newRolloutCreateCmd(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a rollout from a Rollout file, or update it (idempotent)",
		Example: `  sluice rollout create -f examples/rollouts/canary.yaml
  sluice rollout status fraud-v2 --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("give the Rollout file with -f FILE")
			}
			doc, err := readRollout(e, file)
			if err != nil {
				return err
			}
			res, err := e.client().ApplyRollout(e.ctx, doc)
			if err != nil {
				return err
			}
			return e.emit(res, func() error {
				what := "updated"
				if res.Created {
					what = "created"
				}
				fmt.Fprintf(e.stdout, "Rollout %s %s: endpoint %s, candidate %s, %d steps\n", res.Rollout.Metadata.Name, what, res.Rollout.Spec.Endpoint, res.Rollout.Spec.Candidate, len(res.Rollout.Spec.Steps))
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Rollout YAML or JSON file, or - for stdin")
	return cmd
}

func newRolloutListCmd(e *env) *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			docs, err := e.client().ListRollouts(e.ctx, endpoint)
			if err != nil {
				return err
			}
			return e.emit(docs, func() error {
				rows := make([][]string, len(docs))
				for i, d := range docs {
					st := d.Status
					rows[i] = []string{d.Metadata.Name, d.Spec.Endpoint, string(st.Phase), versions(st), fmt.Sprintf("%d/%d", min(st.Step+1, len(d.Spec.Steps)), len(d.Spec.Steps)),
						strconv.FormatFloat(st.Weight, 'f', -1, 64) + "%", string(st.Verdict)}
				}
				return e.table([]string{"NAME", "ENDPOINT", "PHASE", "STABLE→CANDIDATE", "STEP", "WEIGHT", "VERDICT"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "only this endpoint's rollouts")
	return cmd
}

func versions(st *rollout.Status) string {
	if st == nil || st.Candidate == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d→v%d", st.Stable, st.Candidate)
}

func newRolloutStatusCmd(e *env) *cobra.Command {
	var watch bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a rollout's steps, weights, analysis and events",
		Example: `  sluice rollout status fraud-v2
  sluice rollout status fraud-v2 --watch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for {
				v, err := e.client().GetRollout(e.ctx, args[0])
				if err != nil {
					return err
				}
				if e.output == "json" {
					if err := e.printJSON(v); err != nil {
						return err
					}
				} else {
					if watch && isTerminal(e.stdout) {
						fmt.Fprint(e.stdout, "\033[H\033[2J")
					}
					printRollout(e.stdout, v)
				}
				if !watch || v.Rollout.Status.Phase.Final() {
					return nil
				}
				select {
				case <-e.ctx.Done():
					return nil
				case <-time.After(every):
				}
				if !isTerminal(e.stdout) && e.output != "json" {
					fmt.Fprintln(e.stdout, "---")
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep showing the status until the rollout ends")
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "refresh interval with --watch")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printRollout(w io.Writer, v apiclient.RolloutView) {
	d, st := v.Rollout, v.Rollout.Status
	fmt.Fprintf(w, "Rollout:    %s\nEndpoint:   %s\nPhase:      %s\n", d.Metadata.Name, d.Spec.Endpoint, st.Phase)
	if st.Candidate != 0 {
		fmt.Fprintf(w, "Versions:   stable %d, candidate %d (%s)\n", st.Stable, st.Candidate, d.Spec.Candidate)
		fmt.Fprintf(w, "Traffic:    %s, candidate weight %s%%\n", st.Mode, strconv.FormatFloat(st.Weight, 'f', -1, 64))
	}
	if st.Message != "" {
		fmt.Fprintf(w, "Message:    %s\n", st.Message)
	}
	fmt.Fprintln(w, "\nSTEP  ACTION                          STATE")
	for i, step := range d.Spec.Steps {
		state := ""
		switch {
		case i < st.Step:
			state = "done"
		case i == st.Step && st.Phase == rollout.Progressing:
			state = "running for " + time.Since(st.StepStarted).Round(time.Second).String()
		case i == st.Step && st.Phase == rollout.Paused:
			state = "paused"
		case i == st.Step && st.Phase.Final():
			state = map[rollout.Phase]string{rollout.RolledBack: "rolled back here", rollout.Aborted: "aborted here", rollout.Superseded: "superseded here", rollout.Promoted: "promoted"}[st.Phase]
		}
		fmt.Fprintf(w, "%-5d %-31s %s\n", i+1, step.Describe(), state)
	}
	if len(st.Gates) > 0 {
		fmt.Fprintln(w, "\nGATE        RESULT  DETAIL")
		for _, g := range st.Gates {
			res := "failed"
			if g.Passed {
				res = "passed"
			}
			fmt.Fprintf(w, "%-11s %-7s %s\n", g.Gate, res, g.Message)
		}
	}
	printResults(w, "ANALYSIS (current step)", st.Analysis)
	printResults(w, "ANALYSIS (whole rollout)", st.Background)
	if n := len(v.Events); n > 0 {
		fmt.Fprintln(w, "\nEVENTS")
		from := max(0, n-12)
		for _, ev := range v.Events[from:] {
			actor := ""
			if ev.Actor != "" {
				actor = " (" + ev.Actor + ")"
			}
			fmt.Fprintf(w, "%s  %-10s %s%s\n", ev.At.Local().Format(time.DateTime), ev.Kind, ev.Message, actor)
		}
	}
}

func printResults(w io.Writer, title string, rs []analysis.Result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n%-16s %-13s %-10s %-10s %-13s %-9s %s\n", title, "METRIC", "DECISION", "CANDIDATE", "STABLE", "N (C/S)", "P", "TEST")
	for _, r := range rs {
		fmt.Fprintf(w, "%-16s %-13s %-10s %-10s %-13s %-9s %s\n", r.Metric, r.Decision, fnum(r.Candidate), fnum(r.Baseline),
			fmt.Sprintf("%d/%d", r.CandidateN, r.BaselineN), fnum(r.PValue), r.Test)
		if r.Reason != "" {
			fmt.Fprintf(w, "%16s %s\n", "", r.Reason)
		}
	}
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

func newRolloutPromoteCmd(e *env) *cobra.Command {
	var skip bool
	var reason string
	cmd := &cobra.Command{
		Use:   "promote NAME",
		Short: "Move a rollout past a pause, or promote its candidate at once with --skip-analysis",
		Example: `  sluice rollout promote fraud-v2
  sluice rollout promote fraud-v2 --skip-analysis --reason "hotfix for incident 123"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := e.client().RolloutAct(e.ctx, args[0], "promote", apiclient.RolloutAction{SkipAnalysis: skip, Reason: reason})
			if err != nil {
				return err
			}
			return e.emit(doc, func() error {
				fmt.Fprintf(e.stdout, "Rollout %s: %s\n", doc.Metadata.Name, phaseLine(doc))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&skip, "skip-analysis", false, "promote the candidate now, without analysis (needs --reason)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the rollout's events)")
	return cmd
}

func phaseLine(d rollout.Document) string {
	if d.Status.Message != "" {
		return string(d.Status.Phase) + ": " + d.Status.Message
	}
	return string(d.Status.Phase)
}

func newRolloutActionCmd(e *env, action, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   action + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := e.client().RolloutAct(e.ctx, args[0], action, apiclient.RolloutAction{Reason: reason})
			if err != nil {
				return err
			}
			return e.emit(doc, func() error {
				fmt.Fprintf(e.stdout, "Rollout %s: %s\n", doc.Metadata.Name, phaseLine(doc))
				return nil
			})
		},
	}
	if action == "abort" {
		cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the rollout's events)")
	}
	return cmd
}

func newRolloutDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a finished rollout and its events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteRollout(e.ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Deleted rollout %s\n", args[0])
			return nil
		},
	}
}

func newRollbackCmd(e *env) *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "rollback ENDPOINT",
		Short: "Put an endpoint back to an earlier spec at once, without analysis",
		Long: `Rollback puts an endpoint back, in one atomic swap, to the spec it had before
its latest rollout (also after a promotion), or to a given revision from
'sluice endpoint history'. An active rollout of the endpoint is aborted.`,
		Example: `  sluice rollback fraud
  sluice rollback fraud --to-revision 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep, err := e.client().Rollback(e.ctx, args[0], rev)
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Endpoint %s rolled back: revision %d, %s\n", ep.Name, ep.Revision, describeServing(ep))
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&rev, "to-revision", 0, "endpoint revision to return to (default: before the latest rollout)")
	return cmd
}

func describeServing(ep apiclient.Endpoint) string {
	if ep.Spec.Traffic == nil {
		return fmt.Sprintf("serving %s version %s", ep.Spec.Model, ep.Spec.Version)
	}
	b, _ := json.Marshal(ep.Spec.Traffic)
	return "traffic " + string(b)
}
