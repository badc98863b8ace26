package onnx

import (
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

// sessionConfig holds the ONNX Runtime session options of one version.
type sessionConfig struct {
	// intraOp and interOp are thread counts; 0 lets ONNX Runtime choose.
	intraOp, interOp int
	// optLevel is "disable", "basic", "extended" or "all".
	optLevel string
	// parallel selects ORT_PARALLEL execution (operators side by side).
	parallel bool
}

// paramPrefix may precede each parameter name ("onnx.intra_op_threads").
const paramPrefix = "onnx."

var paramNames = []string{"intra_op_threads", "inter_op_threads", "graph_optimization_level", "execution_mode"}

// parseParams reads LoadOptions into session options. Keys may carry the
// "onnx." prefix. "threads" is the registry's copy of LoadOptions.Threads
// and other namespaces ("sluice.signature") belong to other layers; both
// are left alone. Any other key is an error naming it.
func parseParams(opts inference.LoadOptions) (sessionConfig, error) {
	c := sessionConfig{optLevel: "all"}
	if opts.Threads < 0 {
		return c, fmt.Errorf("onnx: threads is %d: must not be negative (0 means GOMAXPROCS)", opts.Threads)
	}
	c.intraOp = opts.Threads
	if c.intraOp == 0 {
		c.intraOp = runtime.GOMAXPROCS(0)
	}
	keys := make([]string, 0, len(opts.Params))
	for k := range opts.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the first bad key deterministically
	for _, k := range keys {
		v := opts.Params[k]
		name, prefixed := strings.CutPrefix(k, paramPrefix)
		if !prefixed && (k == "threads" || strings.Contains(k, ".")) {
			continue
		}
		switch name {
		case "intra_op_threads", "inter_op_threads":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return c, fmt.Errorf("onnx: params.%s: %q is not a non-negative integer (0 lets ONNX Runtime choose)", k, v)
			}
			if name == "intra_op_threads" {
				c.intraOp = n
			} else {
				c.interOp = n
			}
		case "graph_optimization_level":
			switch v {
			case "disable", "basic", "extended", "all":
				c.optLevel = v
			default:
				return c, fmt.Errorf("onnx: params.%s: %q is not one of disable, basic, extended, all", k, v)
			}
		case "execution_mode":
			switch v {
			case "sequential":
				c.parallel = false
			case "parallel":
				c.parallel = true
			default:
				return c, fmt.Errorf("onnx: params.%s: %q is not sequential or parallel", k, v)
			}
		default:
			return c, fmt.Errorf("onnx: params.%s: unknown parameter (known: %s, each optionally prefixed %q)", k, strings.Join(paramNames, ", "), paramPrefix)
		}
	}
	return c, nil
}
