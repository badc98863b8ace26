//go:build !unix

package xgboost

import "time"

// processCPU is unavailable here; benchmarks then skip the cpu-ns/row
// metric.
func processCPU() time.Duration { return 0 }
