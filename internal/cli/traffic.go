package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/traffic"
)

func newEndpointTrafficCmd(e *env) *cobra.Command {
	var weights, sticky, blueGreen, bandit, arms, file string
	var shadows []string
	var challengers []int
	var minShare, epsilon float64
	var keepPrevious time.Duration
	var reward string
	var switchBG bool
	cmd := &cobra.Command{
		Use:   "traffic NAME",
		Short: "Set how an endpoint divides traffic: canary, sticky, shadow, blue-green, bandit, challengers",
		Long: `traffic replaces the endpoint's traffic policy; the change is one atomic swap of the
routing table. Give exactly one of --weights, --blue-green and --bandit (or --switch to
promote a blue-green preview), plus optional --sticky, --shadow and --challenger;
or give the whole policy as YAML or JSON with -f. docs/traffic.md has every field.`,
		Example: `  sluice endpoint traffic fraud --weights 1=95,2=5                      # canary
  sluice endpoint traffic fraud --weights 1=75,2=25 --sticky header:X-User-Id
  sluice endpoint traffic fraud --weights 1=100 --shadow 3 --shadow 4=10  # mirror all / 10%
  sluice endpoint traffic fraud --blue-green 1,2 --keep-previous 10m     # 1 active, 2 preview
  sluice endpoint traffic fraud --switch      # preview becomes active; again: back to the previous
  sluice endpoint traffic fraud --bandit thompson --arms 1,2,3 --min-share 0.05
  sluice endpoint traffic fraud --weights 1=100 --challenger 4
  sluice endpoint traffic fraud -f policy.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			var p traffic.Policy
			switch {
			case file != "":
				if err := readSpec(file, &p); err != nil {
					return err
				}
			case switchBG:
				ep, err := c.GetEndpoint(e.ctx, args[0])
				if err != nil {
					return err
				}
				if ep.Spec.Traffic == nil || ep.Spec.Traffic.BlueGreen == nil || (ep.Spec.Traffic.BlueGreen.Preview == 0 && ep.Spec.Traffic.BlueGreen.Previous == 0) {
					return fmt.Errorf("--switch: endpoint %s has no blue-green preview or previous version to switch to", args[0])
				}
				p = *ep.Spec.Traffic
				bg := *p.BlueGreen
				if bg.Preview != 0 {
					bg = bg.Promote() // the preview becomes active
				} else {
					bg.Active, bg.Previous = bg.Previous, bg.Active // switch back
				}
				p.BlueGreen = &bg
			default:
				var err error
				if p, err = policyFromFlags(weights, sticky, blueGreen, bandit, arms, reward, shadows, challengers, minShare, epsilon, keepPrevious); err != nil {
					return err
				}
			}
			ep, err := c.SetTraffic(e.ctx, args[0], p)
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Endpoint %s traffic set (revision %d)\n", ep.Name, ep.Revision)
				return e.sharesTable(ep)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&weights, "weights", "", "weighted split VERSION=WEIGHT,... (first is stable)")
	f.StringVar(&sticky, "sticky", "", "sticky key: header:NAME or feature:NAME")
	f.StringArrayVar(&shadows, "shadow", nil, "mirror to VERSION[=PERCENT] (repeatable; default 100%)")
	f.StringVar(&blueGreen, "blue-green", "", "ACTIVE[,PREVIEW] versions")
	f.DurationVar(&keepPrevious, "keep-previous", 0, "blue-green: keep the previous active version loaded this long after a switch")
	f.BoolVar(&switchBG, "switch", false, "blue-green: make the preview version active, or switch back to the previous one")
	f.StringVar(&bandit, "bandit", "", "bandit algorithm: thompson, ucb1 or epsilon-greedy")
	f.StringVar(&arms, "arms", "", "bandit arms VERSION,VERSION,...")
	f.Float64Var(&minShare, "min-share", 0, "bandit: minimum share of traffic per arm")
	f.Float64Var(&epsilon, "epsilon", 0, "epsilon-greedy exploration probability (default 0.1)")
	f.StringVar(&reward, "reward", "", "bandit reward kind: binary (default) or continuous")
	f.IntSliceVar(&challengers, "challenger", nil, "challenger version scoring every request (repeatable)")
	f.StringVarP(&file, "file", "f", "", "policy as a YAML or JSON file")
	return cmd
}

func parseVersions(flag, s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: %q is not a version number", flag, part)
		}
		out = append(out, v)
	}
	return out, nil
}

func policyFromFlags(weights, sticky, blueGreen, bandit, arms, reward string, shadows []string, challengers []int, minShare, epsilon float64, keep time.Duration) (traffic.Policy, error) {
	var p traffic.Policy
	if weights != "" {
		for _, part := range strings.Split(weights, ",") {
			vs, ws, ok := strings.Cut(part, "=")
			v, err1 := strconv.Atoi(strings.TrimSpace(vs))
			w, err2 := strconv.Atoi(strings.TrimSpace(ws))
			if !ok || err1 != nil || err2 != nil {
				return p, fmt.Errorf("--weights: %q: want VERSION=WEIGHT", part)
			}
			p.Split = append(p.Split, traffic.Split{Version: v, Weight: w})
		}
	}
	if sticky != "" {
		kind, name, ok := strings.Cut(sticky, ":")
		switch {
		case ok && kind == "header" && name != "":
			p.Sticky = &traffic.Sticky{Header: name}
		case ok && kind == "feature" && name != "":
			p.Sticky = &traffic.Sticky{Feature: name}
		default:
			return p, fmt.Errorf("--sticky: %q: want header:NAME or feature:NAME", sticky)
		}
	}
	for _, s := range shadows {
		vs, ps, hasPct := strings.Cut(s, "=")
		v, err := strconv.Atoi(vs)
		if err != nil || v <= 0 {
			return p, fmt.Errorf("--shadow: %q: want VERSION[=PERCENT]", s)
		}
		pct := 100.0
		if hasPct {
			if pct, err = strconv.ParseFloat(strings.TrimSuffix(ps, "%"), 64); err != nil {
				return p, fmt.Errorf("--shadow: %q: percent is not a number", s)
			}
		}
		p.Shadow = append(p.Shadow, traffic.Shadow{Version: v, Percent: pct})
	}
	if blueGreen != "" {
		vs, err := parseVersions("--blue-green", blueGreen)
		if err != nil {
			return p, err
		}
		if len(vs) > 2 {
			return p, fmt.Errorf("--blue-green: give ACTIVE or ACTIVE,PREVIEW")
		}
		bg := traffic.BlueGreen{Active: vs[0], KeepPrevious: traffic.Duration(keep)}
		if len(vs) == 2 {
			bg.Preview = vs[1]
		}
		p.BlueGreen = &bg
	}
	if bandit != "" {
		vs, err := parseVersions("--arms", arms)
		if err != nil {
			return p, err
		}
		p.Bandit = &traffic.Bandit{Algorithm: traffic.Algorithm(bandit), Arms: vs, MinShare: minShare, Epsilon: epsilon, Reward: traffic.RewardKind(reward)}
	}
	p.Challengers = challengers
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// sharesTable prints an endpoint's current traffic shares and live counters.
func (e *env) sharesTable(ep apiclient.Endpoint) error {
	live := map[int]apiclient.VersionLive{}
	for _, l := range ep.Live {
		live[l.Version] = l
	}
	var rows [][]string
	shown := map[int]bool{}
	for _, s := range ep.Shares {
		l := live[s.Version]
		shown[s.Version] = true
		rows = append(rows, []string{strconv.Itoa(s.Version), s.Role, fmt.Sprintf("%.1f%%", 100*s.Share), strconv.FormatInt(l.Requests, 10), strconv.FormatInt(l.Errors, 10), fmt.Sprintf("%.2f", l.MeanLatencyMS), yesNo(l.Loaded)})
	}
	for _, l := range ep.Live {
		if !shown[l.Version] {
			rows = append(rows, []string{strconv.Itoa(l.Version), l.Role, "-", strconv.FormatInt(l.Requests, 10), strconv.FormatInt(l.Errors, 10), fmt.Sprintf("%.2f", l.MeanLatencyMS), yesNo(l.Loaded)})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return e.table([]string{"VERSION", "ROLE", "SHARE", "REQUESTS", "ERRORS", "MEAN_MS", "LOADED"}, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newEndpointCompareCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "compare NAME",
		Short: "Compare shadow and challenger versions with the versions that answered",
		Long: `compare shows, for every shadow and challenger version, how its predictions compare
with the answering version's on the same requests (agreement of classes, absolute
differences of scores, latency, errors; per segment when the endpoint has segmentBy),
and, once feedback has arrived, accuracy per version and a paired verdict with its
95% confidence interval and p-value.`,
		Example: "  sluice endpoint compare fraud\n  sluice endpoint compare fraud -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmp, err := e.client().Compare(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(cmp, func() error {
				rows := make([][]string, 0, len(cmp.Mirrors))
				for _, m := range cmp.Mirrors {
					seg := m.Segment
					if seg == "" {
						seg = "(all)"
					}
					rows = append(rows, []string{strconv.Itoa(m.Mirror), m.Role, strconv.Itoa(m.Primary), seg, strconv.FormatInt(m.Requests, 10), strconv.FormatInt(m.Errors, 10),
						pct(m.Agreement), num(m.MeanAbsDiff), fmt.Sprintf("%.4g", m.MaxAbsDiff), fmt.Sprintf("%.2f", m.MirrorLatencyMS), fmt.Sprintf("%.2f", m.PrimaryLatencyMS)})
				}
				fmt.Fprintln(e.stdout, "Predictions on the same requests:")
				if err := e.table([]string{"MIRROR", "ROLE", "VS", "SEGMENT", "REQUESTS", "ERRORS", "AGREEMENT", "MEAN_ABS_DIFF", "MAX_ABS_DIFF", "MIRROR_MS", "PRIMARY_MS"}, rows); err != nil {
					return err
				}
				if len(cmp.Outcomes) > 0 {
					fmt.Fprintln(e.stdout, "\nFrom feedback:")
					rows = rows[:0]
					for _, o := range cmp.Outcomes {
						rows = append(rows, []string{strconv.Itoa(o.Version), strconv.FormatInt(o.Labeled, 10), pct(o.Accuracy), num(o.RMSE), strconv.FormatInt(o.Rewards, 10), num(o.MeanReward)})
					}
					if err := e.table([]string{"VERSION", "LABELED", "ACCURACY", "RMSE", "REWARDS", "MEAN_REWARD"}, rows); err != nil {
						return err
					}
				}
				if len(cmp.Paired) > 0 {
					fmt.Fprintln(e.stdout, "\nPaired on the same labelled requests (loss difference, champion minus challenger):")
					rows = rows[:0]
					for _, p := range cmp.Paired {
						rows = append(rows, []string{strconv.Itoa(p.Champion), strconv.Itoa(p.Challenger), strconv.FormatInt(p.N, 10), fmt.Sprintf("%.4g", p.MeanDiff), fmt.Sprintf("[%.4g, %.4g]", p.Low, p.High), fmt.Sprintf("%.3g", p.P), p.Better})
					}
					if err := e.table([]string{"CHAMPION", "CHALLENGER", "PAIRS", "MEAN_DIFF", "95% CI", "P", "BETTER"}, rows); err != nil {
						return err
					}
				}
				if cmp.MirrorDropped > 0 {
					fmt.Fprintf(e.stdout, "\n%d mirrored copies were dropped because the mirroring queue was full.\n", cmp.MirrorDropped)
				}
				return nil
			})
		},
	}
}

func pct(x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100**x)
}

func num(x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.4g", *x)
}

func newEndpointProtectCmd(e *env) *cobra.Command {
	var p apiclient.Protection
	var timeout time.Duration
	var off bool
	cmd := &cobra.Command{
		Use:   "protect NAME",
		Short: "Limit an endpoint's load, bound each prediction, fall back to the stable version",
		Long: `protect sets the endpoint's protection. Requests over --rate-limit (per second, with
--burst) or over --max-concurrency predictions at once get 429 with Retry-After. --timeout
bounds each prediction (504 after it). --fallback answers with the stable version when a
canary (or any other version) fails or times out; the failure still counts against it.`,
		Example: `  sluice endpoint protect fraud --rate-limit 500 --burst 50 --max-concurrency 64
  sluice endpoint protect fraud --timeout 300ms --fallback
  sluice endpoint protect fraud --off`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Timeout = traffic.Duration(timeout)
			if off {
				p = apiclient.Protection{}
			}
			ep, err := e.client().UpdateEndpoint(e.ctx, args[0], apiclient.UpdateEndpointRequest{Protection: &p})
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				if ep.Spec.Protection == nil {
					fmt.Fprintf(e.stdout, "Endpoint %s has no protection (revision %d)\n", ep.Name, ep.Revision)
					return nil
				}
				b, _ := yaml.Marshal(ep.Spec.Protection)
				fmt.Fprintf(e.stdout, "Endpoint %s protection (revision %d):\n%s", ep.Name, ep.Revision, indent(string(b), "  "))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.Float64Var(&p.RateLimit, "rate-limit", 0, "requests per second (0: no limit)")
	f.IntVar(&p.Burst, "burst", 0, "requests allowed at once above the rate (default: the rate)")
	f.IntVar(&p.MaxConcurrency, "max-concurrency", 0, "predictions running at once (0: no limit)")
	f.DurationVar(&timeout, "timeout", 0, "bound on each prediction (0: none)")
	f.BoolVar(&p.Fallback, "fallback", false, "answer with the stable version when another version fails")
	f.BoolVar(&off, "off", false, "remove the protection")
	return cmd
}

func newEndpointRollingCmd(e *env) *cobra.Command {
	var r apiclient.Rolling
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "rolling NAME --to VERSION",
		Short: "Shift an endpoint to a version in equal steps, checking its error rate between steps",
		Long: `rolling moves traffic from the version the endpoint serves (or --from) to --to in
--steps equal increments, one every --interval. Before each step it checks the candidate's
error rate over the last step; above --max-error-rate it halts and sends all traffic back.
Follow it with sluice endpoint show NAME.`,
		Example: `  sluice endpoint rolling fraud --to 4 --steps 4 --interval 1m
  sluice endpoint rolling fraud --to 4 --steps 10 --interval 30s --max-error-rate 0.01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Interval = traffic.Duration(interval)
			ep, err := e.client().StartRolling(e.ctx, args[0], r)
			if err != nil {
				return err
			}
			return e.emit(ep, func() error {
				fmt.Fprintf(e.stdout, "Rolling %s from version %d to %d: step 1 of %d, next step in %s\n", ep.Name, ep.Spec.Rolling.From, ep.Spec.Rolling.To, ep.Spec.Rolling.Steps, interval)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&r.To, "to", 0, "the candidate version (required)")
	f.IntVar(&r.From, "from", 0, "the stable version (default: the one serving now)")
	f.IntVar(&r.Steps, "steps", 4, "number of equal increments")
	f.DurationVar(&interval, "interval", time.Minute, "time between steps")
	f.Float64Var(&r.MaxErrorRate, "max-error-rate", 0.05, "halt when the candidate fails more than this share of its requests in a step")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}
