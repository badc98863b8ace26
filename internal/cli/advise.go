package cli

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/advise"
	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/manifest"
)

// adviseFlags are the facts a person gives; unset ones come from the
// server's metrics and the endpoint's settings.
type adviseFlags struct {
	candidate, arrival, risk, goal, labels, name string
	regulated, latencySensitive, ask             bool
	labelDelay                                   time.Duration
	candidates                                   int
	perHour                                      float64
}

func newAdviseCmd(e *env) *cobra.Command {
	var fl adviseFlags
	cmd := &cobra.Command{
		Use:   "advise ENDPOINT [--candidate MODEL@VERSION]",
		Short: "Recommend a rollout strategy and plan from the endpoint's traffic, feedback and settings",
		Long: `advise reads what the server measured for ENDPOINT (requests per hour, stable's error
rate and p99 latency, whether labels or rewards come back through /v1/feedback and how
late, how many newer versions exist, whether the endpoint requires approval) and what
you tell it (how data arrives, risk tolerance, goal), and recommends how to serve and
which strategy to roll out with: canary, blue-green, shadow-then-canary,
champion-challenger or bandit. It prints its reasons and the sample sizes each analysis
step needs (from the same anytime-valid tests the rollout runs) as comments, followed by
a Rollout document: redirect it to a file and apply it.

Counters start when the server starts: on a freshly started server, give
--requests-per-hour.`,
		Example: `  sluice advise fraud --candidate fraud@4
  sluice advise fraud --risk low --goal compare --label-delay 10m
  sluice advise fraud --interactive
  sluice advise fraud > rollout.yaml && sluice apply -f rollout.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			facts, err := c.Facts(e.ctx, args[0])
			if err != nil {
				return err
			}
			f, notes, err := adviseFacts(facts, fl, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if fl.ask {
				if err := askFacts(e.stdin, e.stderr, &f); err != nil {
					return err
				}
			}
			a, err := advise.Advise(f)
			if err != nil {
				return err
			}
			if e.output != "table" {
				return e.emit(a, nil)
			}
			return printAdvice(e.stdout, a, notes)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&fl.name, "name", "", "the rollout's name (default ENDPOINT-STRATEGY)")
	fs.StringVar(&fl.candidate, "candidate", "", "the version to roll out: MODEL@VERSION, MODEL@ALIAS, VERSION or ALIAS (default latest)")
	fs.StringVar(&fl.arrival, "arrival", "requests", "how data arrives: requests, files, events or devices")
	fs.StringVar(&fl.risk, "risk", "", "risk tolerance: low, medium or high (default medium, low when regulated)")
	fs.StringVar(&fl.goal, "goal", "release", "release (ship safely), compare (keep the better on evidence) or optimize (earn the most reward)")
	fs.StringVar(&fl.labels, "labels", "", "whether labels come back: yes or no (default: whether the server has joined any)")
	fs.DurationVar(&fl.labelDelay, "label-delay", 0, "how long after a request its label arrives (default: as measured)")
	fs.BoolVar(&fl.regulated, "regulated", false, "changes need approval and a record (default: the endpoint's approval setting)")
	fs.BoolVar(&fl.latencySensitive, "latency-sensitive", false, "callers notice small slowdowns")
	fs.IntVar(&fl.candidates, "candidates", 0, "how many candidate versions compete (default: versions newer than stable)")
	fs.Float64Var(&fl.perHour, "requests-per-hour", 0, "the endpoint's traffic (default: as measured since the server started)")
	fs.BoolVarP(&fl.ask, "interactive", "i", false, "ask for the facts not measured")
	return cmd
}

// adviseFacts turns the server's facts and the flags into advise.Facts,
// with notes on what was measured.
func adviseFacts(sf apiclient.EndpointFacts, fl adviseFlags, changed func(string) bool) (advise.Facts, []string, error) {
	f := advise.Facts{Endpoint: sf.Endpoint, Name: fl.name, Arrival: advise.Arrival(fl.arrival), Risk: advise.Risk(fl.risk), Goal: advise.Goal(fl.goal),
		LatencySensitive: fl.latencySensitive, LatencyBudget: time.Duration(sf.Timeout), ErrorRate: -1}
	var notes []string
	hours := sf.WindowSeconds / 3600
	window := time.Duration(sf.WindowSeconds * float64(time.Second)).Round(time.Second)
	if changed("requests-per-hour") {
		f.RequestsPerHour = fl.perHour
	} else if hours > 0 {
		f.RequestsPerHour = float64(sf.Requests) / hours
		notes = append(notes, fmt.Sprintf("traffic: %d requests in the %s since the server started: %.0f an hour", sf.Requests, window, f.RequestsPerHour))
		if window < 10*time.Minute && sf.Requests > 0 {
			notes = append(notes, "that window is short; give --requests-per-hour if it is not typical")
		}
	}
	if sf.StableRequests > 0 {
		f.ErrorRate = float64(sf.StableErrors) / float64(sf.StableRequests)
		notes = append(notes, fmt.Sprintf("stable (version %d): %d errors in %d requests, p99 %s", sf.Stable, sf.StableErrors, sf.StableRequests, time.Duration(sf.StableP99Seconds*float64(time.Second)).Round(time.Microsecond)))
	}
	f.P99 = time.Duration(sf.StableP99Seconds * float64(time.Second))
	switch fl.labels {
	case "":
		f.Labels = sf.Labeled > 0
	case "yes", "true":
		f.Labels = true
	case "no", "false":
	default:
		return f, nil, fmt.Errorf("--labels: %q is not yes or no", fl.labels)
	}
	if sf.Labeled > 0 && hours > 0 {
		f.LabelsPerHour = float64(sf.Labeled) / hours
	}
	if sf.FeedbackDelay.N > 0 {
		f.LabelDelay = time.Duration(sf.FeedbackDelay.MeanSeconds * float64(time.Second))
		notes = append(notes, fmt.Sprintf("feedback: %d labels and %d rewards joined, on average %s after the request", sf.Labeled, sf.Rewards, f.LabelDelay.Round(time.Second)))
	}
	if changed("label-delay") {
		f.LabelDelay = fl.labelDelay
	}
	if sf.StableAccuracy != nil {
		f.Accuracy = *sf.StableAccuracy
	}
	f.Rewards = sf.Rewards > 0
	if sf.StableMeanReward != nil {
		f.MeanReward = min(max(*sf.StableMeanReward, 0), 1)
	}
	f.Regulated = sf.Approval == "required"
	if changed("regulated") {
		f.Regulated = fl.regulated
	} else if f.Regulated {
		notes = append(notes, "the endpoint requires approval for production changes: regulated")
	}
	newer := 0
	for _, v := range sf.Versions {
		if v > sf.Stable {
			newer++
		}
	}
	f.Candidates = max(newer, 1)
	if changed("candidates") {
		f.Candidates = fl.candidates
	}
	f.Candidate = "latest"
	if fl.candidate != "" {
		model, ref, found := strings.Cut(fl.candidate, "@")
		if !found {
			ref = model
		} else if model != sf.Model {
			return f, nil, fmt.Errorf("--candidate: endpoint %s serves model %s, not %s", sf.Endpoint, sf.Model, model)
		}
		f.Candidate = ref
	}
	if len(sf.ActiveRollouts) > 0 {
		notes = append(notes, fmt.Sprintf("rollout %s is still running on this endpoint", strings.Join(sf.ActiveRollouts, ", ")))
	}
	return f, notes, nil
}

// askFacts asks for the facts a person knows, with the current ones as
// defaults (Enter keeps them).
func askFacts(in io.Reader, out io.Writer, f *advise.Facts) error {
	sc := bufio.NewScanner(in)
	ask := func(q, def string, valid ...string) (string, error) {
		for {
			fmt.Fprintf(out, "%s [%s]: ", q, def)
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return "", err
				}
				return def, nil
			}
			a := strings.TrimSpace(sc.Text())
			if a == "" {
				return def, nil
			}
			if len(valid) == 0 {
				return a, nil
			}
			for _, v := range valid {
				if a == v {
					return a, nil
				}
			}
			fmt.Fprintf(out, "  one of %s\n", strings.Join(valid, ", "))
		}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	a, err := ask("How does data arrive (requests, files, events, devices)?", string(orStr(string(f.Arrival), "requests")), "requests", "files", "events", "devices")
	if err != nil {
		return err
	}
	f.Arrival = advise.Arrival(a)
	if a, err = ask("Do callers notice small slowdowns (latency sensitive)?", yes(f.LatencySensitive), "yes", "no"); err != nil {
		return err
	}
	f.LatencySensitive = a == "yes"
	if a, err = ask("Is the model regulated (changes need approval and a record)?", yes(f.Regulated), "yes", "no"); err != nil {
		return err
	}
	f.Regulated = a == "yes"
	if a, err = ask("Risk tolerance (low, medium, high)?", orStr(string(f.Risk), map[bool]string{true: "low", false: "medium"}[f.Regulated]), "low", "medium", "high"); err != nil {
		return err
	}
	f.Risk = advise.Risk(a)
	if a, err = ask("Goal (release, compare, optimize)?", orStr(string(f.Goal), "release"), "release", "compare", "optimize"); err != nil {
		return err
	}
	f.Goal = advise.Goal(a)
	if a, err = ask("Do labels (true outcomes) come back through /v1/feedback?", yes(f.Labels), "yes", "no"); err != nil {
		return err
	}
	f.Labels = a == "yes"
	if f.Labels {
		if a, err = ask("How long after a request does its label arrive?", f.LabelDelay.String()); err != nil {
			return err
		}
		d, err := time.ParseDuration(a)
		if err != nil {
			return fmt.Errorf("label delay: %w", err)
		}
		f.LabelDelay = d
	}
	if a, err = ask("Do rewards (a business KPI per answer) come back?", yes(f.Rewards), "yes", "no"); err != nil {
		return err
	}
	f.Rewards = a == "yes"
	if f.RequestsPerHour == 0 {
		if a, err = ask("About how many requests an hour?", "0"); err != nil {
			return err
		}
		n, err := strconv.ParseFloat(a, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("requests an hour: %q is not a number", a)
		}
		f.RequestsPerHour = n
	}
	return nil
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printAdvice writes the reasons as YAML comments, then the Rollout, so
// the output can be saved and applied as it is.
func printAdvice(w io.Writer, a advise.Advice, notes []string) error {
	comment := func(prefix, s string) {
		for i, line := range wrap(s, 76) {
			if i == 0 {
				fmt.Fprintf(w, "# %s%s\n", prefix, line)
			} else {
				fmt.Fprintf(w, "# %s%s\n", strings.Repeat(" ", len(prefix)), line)
			}
		}
	}
	fmt.Fprintln(w, "# Measured:")
	if len(notes) == 0 {
		fmt.Fprintln(w, "#   nothing yet")
	}
	for _, n := range notes {
		comment("  ", n)
	}
	fmt.Fprintf(w, "#\n# Serving: %s\n", a.Serving)
	for _, r := range a.ServingReasons {
		comment("  - ", r)
	}
	fmt.Fprintf(w, "#\n# Strategy: %s\n", a.Strategy)
	for _, r := range a.Reasons {
		comment("  - ", r)
	}
	fmt.Fprintln(w, "#\n# Sample sizes (anytime-valid tests, 80% power):")
	for _, q := range a.Samples {
		took := "time unknown without a traffic rate"
		if q.Duration > 0 {
			took = "about " + humanDuration(q.Duration)
		}
		n := fmt.Sprintf("%d candidate + %d stable samples", q.Size.Candidate, q.Size.Baseline)
		if q.Size.Test == analysis.TestPairedMeans {
			n = fmt.Sprintf("%d labelled requests scored by both", q.Size.Candidate)
		}
		comment("  - ", fmt.Sprintf("%s: %s to %s; %s", q.Metric, n, q.What, took))
	}
	for _, warn := range a.Warnings {
		comment("Warning: ", warn)
	}
	fmt.Fprintln(w, "#")
	b, err := manifest.Marshal(&a.Rollout)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0f minutes", d.Minutes())
	}
	return d.Round(time.Second).String()
}

// wrap splits s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
