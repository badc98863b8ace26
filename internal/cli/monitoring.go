package cli

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/monitor/drift"
)

func newDriftCmd(e *env) *cobra.Command {
	var baseline, current, prediction string
	var ignore, categorical []string
	cmd := &cobra.Command{
		Use:   "drift NAME | drift --baseline TRAIN.csv --current TODAY.csv",
		Short: "Show how far live traffic (or a file) has drifted from a version's training data",
		Long: `drift NAME compares each version's live window of traffic on endpoint NAME with the
baseline pushed with that version (sluice model push --baseline): PSI, Kolmogorov-Smirnov,
chi-square and Jensen-Shannon per feature, worst first, and the drift of the predictions.

drift --baseline --current compares two CSV files offline, with no server: the KS and
chi-square results are exact (scipy.stats.ks_2samp and chisquare). With -o json it prints
a list with one object per feature, worst first: feature, psi, ks_statistic and ks_pvalue
(numeric) or chi2 and chi2_pvalue (categorical), js.`,
		Example: `  sluice drift fraud
  sluice drift --baseline train.csv --current today.csv
  sluice drift --baseline train.csv --current today.csv --ignore label -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if baseline != "" || current != "" {
				if len(args) > 0 {
					return fmt.Errorf("give either NAME or --baseline and --current, not both")
				}
				if baseline == "" || current == "" {
					return fmt.Errorf("offline drift needs both --baseline and --current")
				}
				return e.offlineDrift(baseline, current, drift.CSVOptions{Ignore: ignore, Categorical: categorical, Prediction: prediction})
			}
			if len(args) != 1 {
				return fmt.Errorf("give the endpoint NAME, or --baseline and --current files")
			}
			return e.liveDrift(args[0])
		},
	}
	cmd.Flags().StringVar(&baseline, "baseline", "", "offline: the reference CSV (training data)")
	cmd.Flags().StringVar(&current, "current", "", "offline: the CSV to compare with it")
	cmd.Flags().StringSliceVar(&ignore, "ignore", nil, "offline: columns to leave out (labels, ids)")
	cmd.Flags().StringSliceVar(&categorical, "categorical", nil, "offline: numeric columns to compare as categories")
	cmd.Flags().StringVar(&prediction, "prediction", "", "offline: column holding the model's output (compared as prediction drift)")
	return cmd
}

func readSample(path string, opts drift.CSVOptions) (drift.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return drift.Sample{}, err
	}
	defer f.Close()
	s, err := drift.ReadCSV(f, opts)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (e *env) offlineDrift(baseline, current string, opts drift.CSVOptions) error {
	b, err := readSample(baseline, opts)
	if err != nil {
		return err
	}
	// The current file is read for the baseline's columns only.
	copts := opts
	for _, c := range b.Columns {
		copts.Columns = append(copts.Columns, c.Name)
	}
	c, err := readSample(current, copts)
	if err != nil {
		return err
	}
	if opts.Prediction == "" {
		b.Prediction, c.Prediction = nil, nil
	}
	r, err := drift.Compare(b, c, drift.Options{})
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(r.Offline())
	}
	fmt.Fprintf(e.stdout, "Baseline %s (%d rows) vs current %s (%d rows)\n\n", baseline, r.BaselineRows, current, r.Rows)
	return e.driftTable(r)
}

func (e *env) liveDrift(name string) error {
	d, err := e.client().Drift(e.ctx, name)
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.printJSON(d)
	}
	if len(d.Versions) == 0 {
		fmt.Fprintf(e.stdout, "No drift data for %s yet: push versions with --baseline and send traffic (window %s).\n", name, d.Window)
		return nil
	}
	for i, v := range d.Versions {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		r := v.Report
		role := ""
		if v.Role != "" {
			role = " (" + v.Role + ")"
		}
		status := "no drift"
		if r.Drifted {
			status = fmt.Sprintf("DRIFT in %d feature(s)", v.Score.DriftedFeatures)
			if r.Prediction != nil && r.Prediction.Drifted {
				status += " and the prediction"
			}
		}
		fmt.Fprintf(e.stdout, "Endpoint %s version %d%s: %d rows in the window (%s) vs %d baseline rows: %s\n\n", name, v.Version, role, r.Rows, d.Window, r.BaselineRows, status)
		if err := e.driftTable(r); err != nil {
			return err
		}
	}
	return nil
}

func optNum(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', 4, 64)
}

// driftTable prints a report's features, worst first, then the prediction.
func (e *env) driftTable(r *drift.Report) error {
	rows := [][]string{}
	add := func(name string, f drift.FeatureReport) {
		ks := optNum(f.KSStatistic)
		if f.KSStatisticMax != nil {
			ks += "-" + optNum(f.KSStatisticMax)
		}
		p := f.KSPValue
		if f.Kind == drift.Categorical {
			p = f.Chi2PValue
		}
		mark := ""
		if f.Drifted {
			mark = "DRIFT " + strings.Join(f.Reasons, ", ")
		}
		rows = append(rows, []string{name, string(f.Kind), strconv.FormatInt(f.Count, 10), optNum(f.PSI), ks, optNum(f.Chi2), optNum(p), optNum(f.JS), mark})
	}
	for _, f := range r.Features {
		add(f.Feature, f)
	}
	if r.Prediction != nil {
		add("(prediction)", *r.Prediction)
	}
	return e.table([]string{"FEATURE", "KIND", "COUNT", "PSI", "KS", "CHI2", "P-VALUE", "JS", "STATUS"}, rows)
}

func newPerformanceCmd(e *env) *cobra.Command {
	var total bool
	cmd := &cobra.Command{
		Use:   "performance NAME",
		Short: "Show model quality per version from labels sent as feedback",
		Long: `performance shows, per version of endpoint NAME, what the labels sent with
POST /v1/feedback say: accuracy, precision, recall, F1, ROC AUC and log loss for classifiers,
RMSE and MAE for regressors, and how late labels arrive. The window covers labels received
in the last --performance-window of the server (default 1h); --total shows all since start.`,
		Example: `  sluice endpoint performance fraud
  sluice endpoint performance fraud --total -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.client().Performance(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(p, func() error {
				span := "window " + p.Window
				if total {
					span = "since start"
				}
				fmt.Fprintf(e.stdout, "Endpoint %s, labels received %s\n\n", p.Endpoint, span)
				rows := [][]string{}
				for _, v := range p.Versions {
					st := v.Window
					if total {
						st = v.Total
					}
					delay := "-"
					if st.LabelDelay != nil {
						delay = fmt.Sprintf("%.3gs", st.LabelDelay.Mean)
					}
					auc := optNum(st.ROCAUC)
					if st.ROCAUCErrorBound != nil && *st.ROCAUCErrorBound > 0.0005 {
						auc += "±" + optNum(st.ROCAUCErrorBound)
					}
					rows = append(rows, []string{strconv.Itoa(v.Version), strconv.FormatInt(st.Labeled, 10), strconv.FormatInt(st.ClassRows+st.RegressionRows, 10),
						optNum(st.Accuracy), optNum(st.Precision), optNum(st.Recall), optNum(st.F1), auc, optNum(st.LogLoss), optNum(st.RMSE), optNum(st.MAE), delay})
				}
				return e.table([]string{"VERSION", "LABELED", "ROWS", "ACCURACY", "PRECISION", "RECALL", "F1", "ROC_AUC", "LOG_LOSS", "RMSE", "MAE", "LABEL_DELAY"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&total, "total", false, "show every label since the server started instead of the window")
	return cmd
}

func newFairnessCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "fairness NAME",
		Short: "Show fairness across groups of the endpoint's sensitive attribute, per version",
		Long: `fairness shows, per version of endpoint NAME, the demographic parity difference
(largest minus smallest share of positive predictions across groups), the disparate impact
ratio (smallest over largest), and, once labels arrive, the equal opportunity difference
(largest minus smallest true-positive rate), with each group's size. The attribute is set in
the endpoint spec: monitoring: {sensitive: {header: X-Region}} or {feature: age_band}.`,
		Example: `  sluice endpoint fairness credit`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := e.client().Fairness(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(f, func() error {
				if f.Sensitive == "" {
					fmt.Fprintf(e.stdout, "Endpoint %s has no sensitive attribute (monitoring.sensitive in its spec).\n", f.Endpoint)
					return nil
				}
				fmt.Fprintf(e.stdout, "Endpoint %s, sensitive attribute: %s\n", f.Endpoint, f.Sensitive)
				for _, v := range f.Versions {
					dp, di, eo := "-", "-", "-"
					if x := v.Fairness.DemographicParityDifference; x != nil {
						dp = strconv.FormatFloat(x.Value, 'g', 4, 64)
					}
					if x := v.Fairness.DisparateImpactRatio; x != nil {
						di = strconv.FormatFloat(x.Value, 'g', 4, 64)
					}
					if x := v.Fairness.EqualOpportunityDifference; x != nil {
						eo = strconv.FormatFloat(x.Value, 'g', 4, 64)
					}
					fmt.Fprintf(e.stdout, "\nVersion %d: demographic parity difference %s, disparate impact ratio %s, equal opportunity difference %s\n", v.Version, dp, di, eo)
					for _, n := range v.Fairness.Notes {
						fmt.Fprintf(e.stdout, "  (%s)\n", n)
					}
					rows := [][]string{}
					for _, g := range v.Groups {
						rate := func(a, b int64) string {
							if b == 0 {
								return "-"
							}
							return strconv.FormatFloat(float64(a)/float64(b), 'f', 3, 64)
						}
						rows = append(rows, []string{g.Group, strconv.FormatInt(g.Rows, 10), rate(g.Selected, g.Rows), strconv.FormatInt(g.Labeled, 10), strconv.FormatInt(g.Positives, 10), rate(g.TruePositives, g.Positives)})
					}
					if err := e.table([]string{"GROUP", "ROWS", "SELECTION_RATE", "LABELED", "POSITIVES", "TRUE_POSITIVE_RATE"}, rows); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func newAlertsCmd(e *env) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List pending and firing alerts",
		Long: `alerts lists the alerts of the server's rules (sluice server --alert-rules FILE) that are
pending (condition holding, waiting for its for-duration) or firing. The same firing alerts
are served in Alertmanager's v2 shape at GET /api/v2/alerts.`,
		Example: `  sluice alerts
  sluice alerts --state firing -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			as, err := e.client().Alerts(e.ctx, state)
			if err != nil {
				return err
			}
			return e.emit(as, func() error {
				if len(as) == 0 {
					fmt.Fprintln(e.stdout, "No active alerts.")
					return nil
				}
				rows := [][]string{}
				for _, a := range as {
					keys := make([]string, 0, len(a.Labels))
					for k := range a.Labels {
						if k != "alertname" {
							keys = append(keys, k)
						}
					}
					sort.Strings(keys)
					var ls []string
					for _, k := range keys {
						ls = append(ls, k+"="+a.Labels[k])
					}
					since := a.ActiveAt
					if a.FiredAt != "" {
						since = a.FiredAt
					}
					if ts, err := time.Parse(time.RFC3339Nano, since); err == nil {
						since = ts.Local().Format(time.DateTime)
					}
					rows = append(rows, []string{a.Rule, strings.ToUpper(a.State), strconv.FormatFloat(a.Value, 'g', 4, 64), since, strings.Join(ls, ",")})
				}
				return e.table([]string{"ALERT", "STATE", "VALUE", "SINCE", "LABELS"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only pending or only firing alerts")
	return cmd
}
