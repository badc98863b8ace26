// Package alert evaluates alerting rules over Sluice's monitoring numbers
// (drift, model quality from labels, fairness, error rates) and sends
// firing and resolved alerts to webhooks, in Alertmanager's webhook format,
// and to Alertmanager itself through its v2 API. Rules follow Prometheus's
// alerting model: a rule whose condition holds is pending, fires once it
// has held for its for-duration, and resolves when it stops holding.
//
// The evaluation is a pure function of the samples and the time (Eval), so
// tests drive it with a fake clock; Run calls it on a ticker and delivers
// notifications in the background, never blocking the evaluation.
package alert

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/traffic"
)

// Config is an alert rules file (--alert-rules).
type Config struct {
	// Interval is how often rules are evaluated; default 15s.
	Interval traffic.Duration `json:"interval,omitempty"`
	// Webhooks receive firing and resolved alerts in Alertmanager's
	// webhook format.
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Alertmanagers are Alertmanager base URLs ("http://am:9093"); firing
	// alerts are posted to their /api/v2/alerts every interval, and
	// resolved ones once, as Prometheus does.
	Alertmanagers []string `json:"alertmanagers,omitempty"`
	// Rules are the alerting rules.
	Rules []Rule `json:"rules"`
}

// Webhook is a receiver of notifications.
type Webhook struct {
	// URL receives a POST per notification.
	URL string `json:"url"`
	// Headers are added to each POST (e.g. Authorization).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one delivery attempt; default 10s.
	Timeout traffic.Duration `json:"timeout,omitempty"`
}

// Rule is one alerting rule: it fires for every series of Metric whose
// labels include Match and whose value compares to Threshold.
type Rule struct {
	// Name is the alert's name (label alertname).
	Name string `json:"name"`
	// Metric is one of Metrics.
	Metric string `json:"metric"`
	// Comparison is one of >, >=, <, <=, ==, !=.
	Comparison string `json:"comparison"`
	// Threshold is the value compared with.
	Threshold float64 `json:"threshold"`
	// For is how long the condition must hold before the alert fires; 0
	// fires at the first evaluation that sees it.
	For traffic.Duration `json:"for,omitempty"`
	// Match selects series by label value (endpoint, version, feature).
	Match map[string]string `json:"match,omitempty"`
	// Labels are added to the alert's labels (e.g. severity).
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations describe the alert; {{ $value }} and {{ $labels.NAME }}
	// are replaced.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Metrics are the metric names rules can use, with their labels.
var Metrics = map[string]string{
	"drift_psi":                     "PSI of an input feature in the live drift window (endpoint, version, feature)",
	"drift_psi_max":                 "largest PSI over a version's input features (endpoint, version)",
	"drift_js":                      "Jensen-Shannon distance of an input feature (endpoint, version, feature)",
	"drift_pvalue":                  "KS (numeric) or chi-square (categorical) p-value of an input feature (endpoint, version, feature)",
	"drift_features":                "number of input features flagged as drifted (endpoint, version)",
	"prediction_drift_psi":          "PSI of the version's predictions (endpoint, version)",
	"drift_rows":                    "rows in the live drift window (endpoint, version)",
	"error_rate":                    "share of failed predictions over the last 5 minutes, bad input not counted (endpoint, version)",
	"requests":                      "predictions over the last 5 minutes (endpoint, version)",
	"accuracy":                      "accuracy from labels in the performance window (endpoint, version)",
	"precision":                     "precision from labels in the performance window (endpoint, version)",
	"recall":                        "recall from labels in the performance window (endpoint, version)",
	"f1":                            "F1 from labels in the performance window (endpoint, version)",
	"roc_auc":                       "ROC AUC from labels in the performance window (endpoint, version)",
	"log_loss":                      "log loss from labels in the performance window (endpoint, version)",
	"rmse":                          "RMSE from labels in the performance window (endpoint, version)",
	"mae":                           "MAE from labels in the performance window (endpoint, version)",
	"labeled":                       "labelled requests in the performance window (endpoint, version)",
	"label_delay_mean_seconds":      "mean label delay in the performance window (endpoint, version)",
	"demographic_parity_difference": "largest minus smallest selection rate across groups (endpoint, version)",
	"disparate_impact_ratio":        "smallest over largest selection rate across groups (endpoint, version)",
	"equal_opportunity_difference":  "largest minus smallest true-positive rate across groups (endpoint, version)",
}

// DefaultInterval is the evaluation interval when the file sets none.
const DefaultInterval = 15 * time.Second

var nameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseConfig decodes a rules file (YAML or JSON), rejecting unknown
// fields, and validates it.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	if c.Interval == 0 {
		c.Interval = traffic.Duration(DefaultInterval)
	}
	return &c, nil
}

// Validate returns every problem, each with its field path.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Interval < 0 || (c.Interval > 0 && time.Duration(c.Interval) < 100*time.Millisecond) {
		add("interval: %v: must be at least 100ms", c.Interval)
	}
	for i, w := range c.Webhooks {
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			add("webhooks[%d].url: %q: must be an http:// or https:// URL", i, w.URL)
		}
		if w.Timeout < 0 {
			add("webhooks[%d].timeout: must not be negative", i)
		}
	}
	for i, u := range c.Alertmanagers {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			add("alertmanagers[%d]: %q: must be an http:// or https:// URL", i, u)
		}
	}
	if len(c.Rules) == 0 {
		add("rules: at least one rule is needed")
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		switch {
		case !nameRE.MatchString(r.Name):
			add("%s.name: %q: must be a name like InputDrift (letters, digits, _)", p, r.Name)
		case seen[r.Name]:
			add("%s.name: %q: duplicate", p, r.Name)
		}
		seen[r.Name] = true
		if _, ok := Metrics[r.Metric]; !ok {
			names := make([]string, 0, len(Metrics))
			for n := range Metrics {
				names = append(names, n)
			}
			slices.Sort(names)
			add("%s.metric: %q: must be one of %s", p, r.Metric, strings.Join(names, ", "))
		}
		if !slices.Contains([]string{">", ">=", "<", "<=", "==", "!="}, r.Comparison) {
			add("%s.comparison: %q: must be one of >, >=, <, <=, ==, !=", p, r.Comparison)
		}
		if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
			add("%s.threshold: must be a finite number", p)
		}
		if r.For < 0 {
			add("%s.for: must not be negative", p)
		}
		for k := range r.Labels {
			if !nameRE.MatchString(k) || k == "alertname" {
				add("%s.labels.%s: must be a label name other than alertname", p, k)
			}
		}
	}
	return errors.Join(errs...)
}

// holds reports whether v compares to the threshold as the rule says.
func (r *Rule) holds(v float64) bool {
	switch r.Comparison {
	case ">":
		return v > r.Threshold
	case ">=":
		return v >= r.Threshold
	case "<":
		return v < r.Threshold
	case "<=":
		return v <= r.Threshold
	case "==":
		return v == r.Threshold
	case "!=":
		return v != r.Threshold
	}
	return false
}

// matches reports whether a sample's labels include the rule's Match.
func (r *Rule) matches(labels map[string]string) bool {
	for k, v := range r.Match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
