package batching

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config tunes a batcher. The zero value of each field means its default.
type Config struct {
	// MaxBatchRows bounds the rows of one merged call; a group runs as
	// soon as it is full. 0 means DefaultMaxBatchRows.
	MaxBatchRows int
	// MaxWait is the longest a call waits for others to join its group.
	// 0 means none: calls merge only while the runtime is busy (see the
	// package documentation).
	MaxWait time.Duration
	// MaxQueue bounds the calls waiting for a group to run; beyond it
	// Predict fails at once. 0 means DefaultMaxQueue.
	MaxQueue int
	// Concurrency bounds the runtime calls the batcher runs at once. 0
	// means GOMAXPROCS, right for runtimes that use the CPU; a remote
	// runtime may want more.
	Concurrency int
}

// Defaults of Config.
const (
	DefaultMaxBatchRows = 64
	DefaultMaxQueue     = 1024
)

// maxMaxWait bounds MaxWait: a batching delay is a latency budget, and
// seconds of it is a typo.
const maxMaxWait = time.Second

// Validate reports the first problem in c, naming the version parameter
// that sets the field.
func (c Config) Validate() error {
	switch {
	case c.MaxBatchRows < 0:
		return fmt.Errorf("%s: %d must not be negative", ParamMaxRows, c.MaxBatchRows)
	case c.MaxWait < 0 || c.MaxWait > maxMaxWait:
		return fmt.Errorf("%s: %s is outside 0..%s", ParamMaxWait, c.MaxWait, maxMaxWait)
	case c.MaxQueue < 0:
		return fmt.Errorf("%s: %d must not be negative", ParamMaxQueue, c.MaxQueue)
	case c.Concurrency < 0:
		return fmt.Errorf("%s: %d must not be negative", ParamConcurrency, c.Concurrency)
	}
	return nil
}

// withDefaults fills in zero fields.
func (c Config) withDefaults() Config {
	if c.MaxBatchRows == 0 {
		c.MaxBatchRows = DefaultMaxBatchRows
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.Concurrency == 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	return c
}

// The version parameters that configure batching. They are Sluice's, not
// the runtime's: whoever loads a version removes them (see IsParam)
// before handing the rest to the format.
const (
	// ParamMaxRows turns batching on: "batch.max_rows": "64".
	ParamMaxRows = "batch.max_rows"
	// ParamMaxWait sets Config.MaxWait: "batch.max_wait": "2ms".
	ParamMaxWait = "batch.max_wait"
	// ParamMaxQueue sets Config.MaxQueue.
	ParamMaxQueue = "batch.max_queue"
	// ParamConcurrency sets Config.Concurrency.
	ParamConcurrency = "batch.concurrency"
)

const paramPrefix = "batch."

// IsParam reports whether a version parameter belongs to batching.
func IsParam(key string) bool { return strings.HasPrefix(key, paramPrefix) }

// ParseParams reads the batching parameters of a version. on reports
// whether batching is asked for, which it is when ParamMaxRows is given
// and more than 1. Unknown "batch." keys and malformed values are errors
// naming the parameter; other keys are ignored.
func ParseParams(params map[string]string) (cfg Config, on bool, err error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		if IsParam(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := params[k]
		switch k {
		case ParamMaxRows, ParamMaxQueue, ParamConcurrency:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return Config{}, false, fmt.Errorf("%s: %q is not a whole number, 0 or more", k, v)
			}
			switch k {
			case ParamMaxRows:
				cfg.MaxBatchRows = n
			case ParamMaxQueue:
				cfg.MaxQueue = n
			default:
				cfg.Concurrency = n
			}
		case ParamMaxWait:
			d, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, false, fmt.Errorf("%s: %q is not a duration like \"2ms\" or \"0s\"", k, v)
			}
			cfg.MaxWait = d
		default:
			return Config{}, false, fmt.Errorf("%s: unknown parameter (known: %s, %s, %s, %s)", k, ParamConcurrency, ParamMaxQueue, ParamMaxRows, ParamMaxWait)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, false, err
	}
	return cfg, cfg.MaxBatchRows > 1, nil
}
