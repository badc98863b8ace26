package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/monitor/predlog"
)

// openPredictionLog builds the prediction log from the configuration: a
// config file, or one file sink in a directory. It returns the directory
// `sluice logs` reads (the first file sink's), or "" when there is none.
func openPredictionLog(cfg Config, log *slog.Logger) (*predlog.Logger, string, error) {
	var pc predlog.Config
	switch {
	case cfg.PredictionLogConfig != "":
		b, err := os.ReadFile(cfg.PredictionLogConfig)
		if err != nil {
			return nil, "", fmt.Errorf("--prediction-log-config: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, &pc); err != nil {
			return nil, "", fmt.Errorf("--prediction-log-config %s: %w", cfg.PredictionLogConfig, err)
		}
	case cfg.PredictionLog == "off" || cfg.PredictionLogSample <= 0:
		return nil, "", nil
	default:
		dir := cfg.PredictionLog
		if dir == "" {
			dir = filepath.Join(cfg.DataDir, "predictions")
		}
		sample := cfg.PredictionLogSample
		pc.Sinks = []predlog.SinkConfig{{Sample: &sample, File: &predlog.FileConfig{Dir: dir}}}
	}
	pl, err := predlog.Open(&pc, log)
	if err != nil {
		return nil, "", fmt.Errorf("prediction log: %w", err)
	}
	dir := ""
	for _, s := range pc.Sinks {
		if s.File != nil {
			dir = s.File.Dir
			break
		}
	}
	return pl, dir, nil
}
