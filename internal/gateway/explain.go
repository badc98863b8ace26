package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
	"github.com/sluicehq/sluice/internal/oip/oippb"
)

// Explanations: a caller asks for them with ?explain=true (REST) or the
// request parameter "explain": true (REST body or gRPC bool_param). The
// answering version's model computes them through inference.Explainer;
// a model without one (ONNX, an external server) answers 400 saying so.
//
// The Open Inference Protocol answer gets one more output tensor,
// ContributionsOutput, FP64 [rows, features+1] ([rows, groups,
// features+1] for a multi-class model), whose last column is the bias, and
// a response parameter "explanation" describing it (see explanationParams).
// The plain JSON form gets an "explanation" member (see plainExplanation).

// ContributionsOutput names the output tensor holding contributions.
const ContributionsOutput = "contributions"

// ParamExplain is the request parameter that asks for explanations.
const ParamExplain = "explain"

// explainQuery reads ?explain=; absent is false.
func explainQuery(rawQuery string) (bool, *httpError) {
	if rawQuery == "" {
		return false, nil // the usual case, without parsing a query
	}
	q, _ := url.ParseQuery(rawQuery) // as net/http's URL.Query: bad pairs are dropped
	v := q.Get(ParamExplain)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("query parameter explain=%q: want true or false", v)}
	}
	return b, nil
}

// explainParam reads the request parameter "explain"; absent is false.
func explainParam(params oip.Params) (bool, *httpError) {
	v, ok := params.Lookup(ParamExplain)
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("parameters.explain: want a boolean, got %v", v)}
	}
	return b, nil
}

// explainer returns the explainer of b's model, or a 400 naming why it
// has none.
func explainer(b *Backend) (inference.Explainer, *httpError) {
	if b == nil || b.Runtime == nil {
		return nil, &httpError{status: http.StatusServiceUnavailable, msg: "explain: no loaded version"}
	}
	if e, ok := inference.AsExplainer(b.Runtime); ok {
		return e, nil
	}
	return nil, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(
		"explain: %s version %d (format %s) has no explainer: explanations (TreeSHAP, linear contributions) are available for xgboost, lightgbm and linear models",
		b.Model, b.Version, b.Format)}
}

// explain computes the explanation of inputs on the backend that answered.
func (g *Gateway) explain(ctx context.Context, c *call, inputs []inference.Tensor) (*inference.Explanation, *httpError) {
	ex, herr := explainer(c.b)
	if herr != nil {
		return nil, herr
	}
	if g.tracer != nil {
		var span trace.Span
		ctx, span = g.tracer.Start(ctx, SpanExplain, trace.WithAttributes(append(backendAttrs(c.b, string(c.role)), AttrRows.Int(batchRows(inputs)))...))
		defer span.End()
	}
	e, err := ex.Explain(ctx, inputs)
	switch {
	case errors.Is(err, inference.ErrNotExplainable):
		return nil, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("explain: %s version %d: %v", c.b.Model, c.b.Version, err)}
	case err != nil:
		return nil, g.predictError(c.ep, c.b, err)
	}
	return e, nil
}

// contributionsTensor is the explanation as an output tensor.
func contributionsTensor(e *inference.Explanation) inference.Tensor {
	cols := int64(len(e.Features) + 1)
	shape := []int64{int64(e.Rows), cols}
	if e.Groups > 1 {
		shape = []int64{int64(e.Rows), int64(e.Groups), cols}
	}
	return inference.Tensor{Name: ContributionsOutput, Datatype: inference.FP64, Shape: shape, F64: e.Values}
}

// explanationParams describes the contributions tensor: its output name,
// the feature of each column (the last is "(bias)"), the groups along the
// middle dimension, the space the values add up in and the method.
func explanationParams(e *inference.Explanation) map[string]any {
	cols := make([]any, 0, len(e.Features)+1)
	for _, f := range e.Features {
		cols = append(cols, f)
	}
	cols = append(cols, BiasColumn)
	p := map[string]any{"output": ContributionsOutput, "columns": cols, "space": e.Space, "method": e.Method}
	if e.Groups > 1 {
		groups := make([]any, len(e.GroupLabels))
		for i, l := range e.GroupLabels {
			groups[i] = l
		}
		p["groups"] = groups
	}
	return p
}

// BiasColumn names the last column of an explanation: the expected value
// every row starts from.
const BiasColumn = "(bias)"

// grpcExplanation adds the contributions output and the "explanation"
// response parameter (the JSON of explanationParams) to a gRPC answer.
func grpcExplanation(e *inference.Explanation) (*oippb.InferParameter, error) {
	desc, err := json.Marshal(explanationParams(e))
	if err != nil {
		return nil, err
	}
	return &oippb.InferParameter{ParameterChoice: &oippb.InferParameter_StringParam{StringParam: string(desc)}}, nil
}

// plainRow is one row's explanation in the plain JSON form.
type plainRow struct {
	// Bias is the expected value the row starts from.
	Bias jsonFloat `json:"bias"`
	// Contributions maps each feature to its contribution.
	Contributions map[string]jsonFloat `json:"contributions"`
}

// jsonFloat writes NaN and infinities as null, as the tensors do, and
// a float32 value with the digits a float32 has.
type jsonFloat struct {
	v    float64
	bits int // 32 or 64
}

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f.v, 'g', -1, f.bits), nil
}

// plainExplanation is the "explanation" member of a plain JSON answer:
// per row, the bias and a contribution per feature name; for a multi-class
// model, per row an object keyed by class label.
type plainExplanation struct {
	Method string `json:"method"`
	Space  string `json:"space"`
	// Rows holds plainRow values, or map[string]plainRow per row.
	Rows []any `json:"rows"`
}

// appendPlainExplanation adds "explanation" to the JSON object in body.
func appendPlainExplanation(body []byte, e *inference.Explanation) ([]byte, error) {
	nf := len(e.Features)
	cols := nf + 1
	bits := 64
	if e.Float32 {
		bits = 32
	}
	row := func(v []float64) plainRow {
		r := plainRow{Bias: jsonFloat{v[nf], bits}, Contributions: make(map[string]jsonFloat, nf)}
		for j, f := range e.Features {
			r.Contributions[f] = jsonFloat{v[j], bits}
		}
		return r
	}
	pe := plainExplanation{Method: e.Method, Space: e.Space, Rows: make([]any, e.Rows)}
	for r := range e.Rows {
		if e.Groups == 1 {
			pe.Rows[r] = row(e.Values[r*cols : (r+1)*cols])
			continue
		}
		byGroup := make(map[string]plainRow, e.Groups)
		for g := range e.Groups {
			label := strconv.Itoa(g)
			if g < len(e.GroupLabels) {
				label = e.GroupLabels[g]
			}
			byGroup[label] = row(e.Values[(r*e.Groups+g)*cols : (r*e.Groups+g+1)*cols])
		}
		pe.Rows[r] = byGroup
	}
	js, err := json.Marshal(pe)
	if err != nil {
		return nil, fmt.Errorf("encoding the explanation: %w", err)
	}
	if len(body) == 0 || body[len(body)-1] != '}' {
		return nil, errors.New("encoding the explanation: the answer is not a JSON object")
	}
	body = append(body[:len(body)-1], `,"explanation":`...)
	body = append(body, js...)
	return append(body, '}'), nil
}
