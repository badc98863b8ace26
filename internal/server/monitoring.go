package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/drift"
)

// parseDriftWindow reads --drift-window: a duration or a row count.
func parseDriftWindow(s string) (drift.WindowOptions, string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return drift.WindowOptions{Size: monitor.DefaultDriftWindow}, monitor.DefaultDriftWindow.String(), nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return drift.WindowOptions{}, "", fmt.Errorf("--drift-window: %q: a row count must be positive", s)
		}
		return drift.WindowOptions{Rows: n}, fmt.Sprintf("%d rows", n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return drift.WindowOptions{}, "", fmt.Errorf("--drift-window: %q: want a duration like 1h or a row count like 10000", s)
	}
	return drift.WindowOptions{Size: d}, d.String(), nil
}

// setupMonitors makes the drift, performance and fairness monitors.
func setupMonitors(cfg *Config, dp *api.DataPlane) error {
	wopts, desc, err := parseDriftWindow(cfg.DriftWindow)
	if err != nil {
		return err
	}
	if dp.Drift, err = monitor.NewDrift(wopts); err != nil {
		return fmt.Errorf("--drift-window: %w", err)
	}
	dp.DriftWindow = desc
	dp.Performance = monitor.NewPerformance(monitor.PerformanceOptions{Window: cfg.PerformanceWindow})
	dp.Fairness = monitor.NewFairness()
	return nil
}

// setupAlerts reads the alert rules file, if any, into a manager over the
// monitors.
func setupAlerts(cfg Config, dp api.DataPlane) (*alert.Manager, error) {
	if cfg.AlertRules == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.AlertRules)
	if err != nil {
		return nil, fmt.Errorf("--alert-rules: %w", err)
	}
	c, err := alert.ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("--alert-rules %s: %w", cfg.AlertRules, err)
	}
	src := alert.MonitorSource(alert.Monitors{Live: dp.Live, Drift: dp.Drift, Performance: dp.Performance, Fairness: dp.Fairness})
	cfg.Logger.Info("alert rules loaded", "file", cfg.AlertRules, "rules", len(c.Rules), "webhooks", len(c.Webhooks), "alertmanagers", len(c.Alertmanagers), "interval", c.Interval)
	return alert.NewManager(*c, src, alert.Options{Logger: cfg.Logger}), nil
}
