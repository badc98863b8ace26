package oip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/inference"
)

// This file holds the reference decoders: the same protocol written the
// straightforward way, with encoding/json and generic values. The fuzz
// tests hold the fast decoders to them, and the benchmarks measure what
// the fast ones save. Their error messages are terse: only acceptance and
// results are compared.

var errRef = errors.New("rejected")

func refErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRef}, args...)...)
}

// refParse decodes body into generic values with json.Number numbers. When
// strict, it also applies the rules encoding/json lacks: UTF-8 only and no
// duplicate keys.
func refParse(body []byte, strict bool) (any, error) {
	if strict {
		if !utf8.Valid(body) {
			return nil, refErr("invalid UTF-8")
		}
		if err := refCheckDuplicates(body); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, refErr("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refErr("trailing data")
	}
	return v, nil
}

// refCheckDuplicates walks the tokens of body and rejects an object that
// repeats a key. It rejects invalid JSON too, but not always: refParse
// checks validity properly afterwards.
func refCheckDuplicates(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys      map[string]bool
		object    bool
		expectKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return refErr("%v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return refErr("duplicate key %q", k)
				}
				top.keys[k] = true
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.expectKey = true
			}
			stack = append(stack, frame{keys: map[string]bool{}, object: true, expectKey: true})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.expectKey = true
			}
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object {
			top.expectKey = true
		}
	}
}

// refConvParams converts json.Number values the way readAny does.
func refConvParams(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if refIsIntLiteral(string(v)) {
			if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				return i, nil
			}
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, refErr("parameter %s out of range", v)
		}
		return f, nil
	case map[string]any:
		for k, x := range v {
			y, err := refConvParams(x)
			if err != nil {
				return nil, err
			}
			v[k] = y
		}
	case []any:
		for i, x := range v {
			y, err := refConvParams(x)
			if err != nil {
				return nil, err
			}
			v[i] = y
		}
	}
	return v, nil
}

func refParams(v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, refErr("parameters must be an object")
	}
	if _, err := refConvParams(m); err != nil {
		return nil, err
	}
	return m, nil
}

func refIsIntLiteral(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

// refDecodeInferRequest is DecodeInferRequest written with encoding/json.
// strict adds the checks encoding/json lacks (see refParse); benchmarks
// measure both.
func refDecodeInferRequest(body []byte, lim Limits, strict bool) (*InferRequest, error) {
	v, err := refParse(body, strict)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, refErr("not an object")
	}
	req := &InferRequest{}
	if id := top["id"]; id != nil {
		s, ok := id.(string)
		if !ok {
			return nil, refErr("id")
		}
		req.ID = s
	}
	params, err := refParams(top["parameters"])
	if err != nil {
		return nil, err
	}
	req.Parameters = ParamsOf(params)
	if top["inputs"] == nil {
		return nil, refErr("inputs missing")
	}
	inputs, ok := top["inputs"].([]any)
	if !ok || len(inputs) == 0 {
		return nil, refErr("inputs")
	}
	total, max := 0, lim.maxElements()
	anyParams := false
	var inParams []map[string]any
	names := map[string]bool{}
	for _, x := range inputs {
		obj, ok := x.(map[string]any)
		if !ok {
			return nil, refErr("input not an object")
		}
		params, err := refParams(obj["parameters"])
		if err != nil {
			return nil, err
		}
		if params != nil {
			anyParams = true
		}
		inParams = append(inParams, params)
		if _, ok := params["binary_data_size"]; ok {
			return nil, refErr("binary")
		}
		if _, ok := params["shared_memory_region"]; ok {
			return nil, refErr("shm")
		}
		var t inference.Tensor
		name, ok := obj["name"].(string)
		if !ok || name == "" || names[name] {
			return nil, refErr("name")
		}
		names[name] = true
		t.Name = name
		dt, ok := obj["datatype"].(string)
		if !ok {
			return nil, refErr("datatype")
		}
		if t.Datatype, err = inference.ParseDatatype(dt); err != nil {
			return nil, refErr("datatype")
		}
		shape, ok := obj["shape"].([]any)
		if !ok || len(shape) > maxDims {
			return nil, refErr("shape")
		}
		t.Shape = []int64{}
		for _, d := range shape {
			n, ok := d.(json.Number)
			if !ok || !refIsIntLiteral(string(n)) {
				return nil, refErr("shape dim")
			}
			v, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil || v < 0 || v > 1<<62 {
				return nil, refErr("shape dim")
			}
			t.Shape = append(t.Shape, v)
		}
		n, err := inference.NumElements(t.Shape)
		if err != nil {
			return nil, refErr("shape")
		}
		if total += n; total > max {
			return nil, refErr("limit")
		}
		data, ok := obj["data"].([]any)
		if !ok {
			return nil, refErr("data")
		}
		var leaves []any
		if len(data) > 0 && len(t.Shape) > 0 {
			if _, nested := data[0].([]any); nested {
				if leaves, err = refLeaves(data, t.Shape, nil); err != nil {
					return nil, err
				}
			}
		}
		if leaves == nil {
			for _, e := range data {
				if _, ok := e.([]any); ok {
					return nil, refErr("array in flat data")
				}
			}
			leaves = data
		}
		if len(leaves) != n {
			return nil, refErr("count")
		}
		if err := refElements(&t, leaves); err != nil {
			return nil, err
		}
		req.Inputs = append(req.Inputs, t)
	}
	if anyParams {
		req.InputParameters = inParams
	}
	if top["outputs"] != nil {
		outs, ok := top["outputs"].([]any)
		if !ok {
			return nil, refErr("outputs")
		}
		names := map[string]bool{}
		for _, x := range outs {
			obj, ok := x.(map[string]any)
			if !ok {
				return nil, refErr("output")
			}
			name, ok := obj["name"].(string)
			if !ok || name == "" || names[name] {
				return nil, refErr("output name")
			}
			names[name] = true
			params, err := refParams(obj["parameters"])
			if err != nil {
				return nil, err
			}
			if _, ok := params["shared_memory_region"]; ok {
				return nil, refErr("shm")
			}
			req.Outputs = append(req.Outputs, RequestedOutput{Name: name, Parameters: params})
		}
	}
	return req, nil
}

// refLeaves returns the elements of data nested exactly as shape.
func refLeaves(data []any, shape []int64, out []any) ([]any, error) {
	if int64(len(data)) != shape[0] {
		return nil, refErr("nesting length")
	}
	for _, e := range data {
		sub, isArray := e.([]any)
		if len(shape) == 1 {
			if isArray {
				return nil, refErr("too deep")
			}
			out = append(out, e)
			continue
		}
		if !isArray {
			return nil, refErr("too shallow")
		}
		var err error
		if out, err = refLeaves(sub, shape[1:], out); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

// refElements converts generic elements into t's typed slice.
func refElements(t *inference.Tensor, leaves []any) error {
	num := func(e any) (string, bool) {
		n, ok := e.(json.Number)
		return string(n), ok
	}
	for _, e := range leaves {
		switch t.Datatype {
		case inference.BOOL:
			b, ok := e.(bool)
			if !ok {
				return refErr("bool")
			}
			t.Bool = append(t.Bool, b)
		case inference.BYTES:
			s, ok := e.(string)
			if !ok {
				return refErr("bytes")
			}
			t.Bytes = append(t.Bytes, []byte(s))
		case inference.FP16, inference.FP32, inference.FP64:
			bits := 32
			if t.Datatype == inference.FP64 {
				bits = 64
			}
			f := math.NaN()
			if e != nil {
				s, ok := num(e)
				if !ok {
					return refErr("float")
				}
				var err error
				if f, err = strconv.ParseFloat(s, bits); err != nil {
					return refErr("float range")
				}
				if t.Datatype == inference.FP16 && math.Abs(f) > 65504 {
					return refErr("fp16 range")
				}
			}
			if bits == 64 {
				t.F64 = append(t.F64, f)
			} else {
				t.F32 = append(t.F32, float32(f))
			}
		case inference.UINT64:
			s, ok := num(e)
			if !ok || !refIsIntLiteral(s) {
				return refErr("uint64")
			}
			if s == "-0" {
				s = "0"
			}
			u, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return refErr("uint64 range")
			}
			t.U64 = append(t.U64, u)
		default:
			s, ok := num(e)
			if !ok || !refIsIntLiteral(s) {
				return refErr("int")
			}
			v, err := strconv.ParseInt(s, 10, 64)
			lo, hi := intRange(t.Datatype)
			if err != nil || v < lo || v > hi {
				return refErr("int range")
			}
			t.I64 = append(t.I64, v)
		}
	}
	return nil
}

// refDecodeInstances is DecodeInstances written with encoding/json.
func refDecodeInstances(body []byte, spec inference.TensorSpec, lim Limits, strict bool) (inference.Tensor, error) {
	v, err := refParse(body, strict)
	if err != nil {
		return inference.Tensor{}, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return inference.Tensor{}, refErr("not an object")
	}
	rowsV, hasInstances := top["instances"]
	inputsV, hasInputs := top["inputs"]
	if hasInstances == hasInputs {
		return inference.Tensor{}, refErr("need exactly one of instances and inputs")
	}
	if hasInputs {
		rowsV = inputsV
	}
	rows, ok := rowsV.([]any)
	nf := len(spec.Features)
	if !ok || len(rows) == 0 || len(rows)*nf > lim.maxElements() {
		return inference.Tensor{}, refErr("instances")
	}
	conv := func(e any) (float64, error) {
		switch e := e.(type) {
		case nil:
			if !spec.AllowMissing {
				return 0, refErr("null")
			}
			return math.NaN(), nil
		case bool:
			if e {
				return 1, nil
			}
			return 0, nil
		case json.Number:
			f, err := strconv.ParseFloat(string(e), 64)
			if err != nil {
				return 0, refErr("range")
			}
			return f, nil
		}
		return 0, refErr("not a number")
	}
	data := make([]float64, 0, len(rows)*nf)
	for _, row := range rows {
		switch row := row.(type) {
		case map[string]any:
			for k := range row {
				if !refHasFeature(spec.Features, k) {
					return inference.Tensor{}, refErr("unknown feature")
				}
			}
			for _, f := range spec.Features {
				e, ok := row[f.Name]
				if !ok {
					if !spec.AllowMissing {
						return inference.Tensor{}, refErr("missing feature")
					}
					data = append(data, math.NaN())
					continue
				}
				x, err := conv(e)
				if err != nil {
					return inference.Tensor{}, err
				}
				data = append(data, x)
			}
		case []any:
			if len(row) != nf {
				return inference.Tensor{}, refErr("row length")
			}
			for _, e := range row {
				x, err := conv(e)
				if err != nil {
					return inference.Tensor{}, err
				}
				data = append(data, x)
			}
		default:
			if nf != 1 {
				return inference.Tensor{}, refErr("scalar row")
			}
			x, err := conv(row)
			if err != nil {
				return inference.Tensor{}, err
			}
			data = append(data, x)
		}
	}
	return inference.Tensor{Name: spec.Name, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(nf)}, F64: data}, nil
}

func refHasFeature(fs []inference.Feature, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}
