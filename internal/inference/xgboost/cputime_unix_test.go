//go:build unix

package xgboost

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has used,
// so benchmarks can report cost per row even on a busy machine where wall
// time mostly measures waiting for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
