package xgboost

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
)

var _ inference.Format = Format{}

// Format loads XGBoost models saved with Booster.save_model, as JSON
// ("x.json") or UBJSON ("x.ubj").
type Format struct{}

// Name returns "xgboost".
func (Format) Name() string { return "xgboost" }

// detectWindow bounds how much of an artifact Detect reads.
const detectWindow = 1 << 20

// Detect reports whether artifact looks like an XGBoost JSON or UBJSON
// model: an object whose first bytes hold the "learner" key and that has
// a "gradient_booster".
func (Format) Detect(artifact []byte) bool {
	head := artifact[:min(len(artifact), detectWindow)]
	switch {
	case isUBJSON(head):
		return bytes.Contains(head[:min(len(head), 64)], []byte("learner")) &&
			bytes.Contains(head, []byte("gradient_booster"))
	case len(bytes.TrimLeft(head, " \t\r\n")) > 0 && bytes.TrimLeft(head, " \t\r\n")[0] == '{':
		return bytes.Contains(head[:min(len(head), 4096)], []byte(`"learner"`)) &&
			bytes.Contains(head, []byte(`"gradient_booster"`))
	}
	return false
}

// isUBJSON reports whether data starts like a UBJSON object: '{' followed
// by the length marker of the first key (JSON has a quote or space there).
func isUBJSON(data []byte) bool {
	return len(data) > 1 && data[0] == '{' && strings.IndexByte("iUIlL$#N}", data[1]) >= 0
}

// Load parses an XGBoost model. Errors about the artifact wrap
// inference.ErrInvalidModel and say what is wrong and where; errors about
// opts wrap inference.ErrInvalidOptions.
//
// opts.Signature may name the features of a model saved without names, or
// rename them: its input's name and features and its output's labels are
// used, each when given; the features must be as many as the model's.
// opts.Params is not used: any key is an error.
func (Format) Load(ctx context.Context, artifact []byte, opts inference.LoadOptions) (inference.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("xgboost: %w: threads is %d: must not be negative (0 means GOMAXPROCS)", inference.ErrInvalidOptions, opts.Threads)
	}
	if len(opts.Params) != 0 {
		keys := make([]string, 0, len(opts.Params))
		for k := range opts.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("xgboost: %w: params.%s: unknown parameter (the format takes none)", inference.ErrInvalidOptions, keys[0])
	}
	b, err := load(artifact, opts)
	if err != nil {
		return nil, fmt.Errorf("xgboost: %w: %w", inference.ErrInvalidModel, err)
	}
	if opts.Signature != nil {
		if err := b.override(opts.Signature); err != nil {
			return nil, fmt.Errorf("xgboost: %w: %w", inference.ErrInvalidOptions, err)
		}
	}
	return b, nil
}

// load decodes and builds a model; its errors say what is wrong and where.
func load(artifact []byte, opts inference.LoadOptions) (*Booster, error) {
	var src source
	if isUBJSON(artifact) {
		src = newUBJSource(artifact)
	} else {
		src = newJSONSource(artifact)
	}
	raw, err := decodeModel(src)
	if err != nil {
		return nil, err
	}
	return build(raw, opts)
}
