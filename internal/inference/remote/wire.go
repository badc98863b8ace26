package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// The wire codecs. Both protocols reuse package oip, the gateway's own
// codec, so that backends are spoken to with exactly the rules clients
// are held to:
//
//   - A v2 request body is what oip.AppendInferResponse writes for the
//     tensors as outputs, with the member renamed: {"model_name":"",
//     "id":"","outputs":[T...]} becomes {"inputs":[T...]}.
//   - A v2 response's "outputs" array has the form of a request's
//     "inputs", so it is decoded by oip.DecodeTensors where it stands,
//     while the rest of the response is validated around it.
//   - A TF Serving response's "predictions" array is the "data" of one
//     tensor whose shape is read from the array's nesting, and is
//     decoded the same way after wrapping.
//
// A response is read in one pass (decodeV2Outputs and scanResponse, in
// wirescan.go) that validates it as strictly as json.Valid, except for
// the array handed to the oip decoder, which validates it itself.

// respPrefix is how oip.AppendInferResponse starts when the model name
// and id are empty (both are always written), and reqPrefix what a
// request starts with instead.
const (
	respPrefix = `{"model_name":"","id":"","outputs":`
	reqPrefix  = `{"inputs":`
)

// appendV2Request appends an Open Inference Protocol v2 inference
// request for inputs to dst. NaN and infinities are written as null.
func appendV2Request(dst []byte, inputs []inference.Tensor) []byte {
	start := len(dst)
	dst = oip.AppendInferResponse(dst, &oip.InferResponse{Outputs: inputs})
	body := dst[start:]
	if !bytes.HasPrefix(body, []byte(respPrefix)) {
		panic("remote: oip.AppendInferResponse no longer starts with " + respPrefix)
	}
	n := copy(body[len(reqPrefix):], body[len(respPrefix):])
	copy(body, reqPrefix)
	return dst[:start+len(reqPrefix)+n]
}

// decodeV2Response decodes the outputs of an inference response. Errors
// are plain errors (the backend's fault, not the caller's), naming the
// JSON path at fault. body is modified during a call that fails, and
// restored before it returns.
func decodeV2Response(body []byte) ([]inference.Tensor, error) {
	if out, ok := decodeV2Outputs(body); ok {
		return out, nil
	}
	return explainV2Response(body)
}

// explainV2Response is decodeV2Response for a response that
// decodeV2Outputs rejects: it reads it again, in two passes, to report
// the fault as it always was, invalid JSON first, wherever it is. It
// would return the tensors of a response that decodeV2Outputs wrongly
// rejected; the differential tests hold the two to agree.
func explainV2Response(body []byte) ([]inference.Tensor, error) {
	sp, err := scanResponse(body, "outputs")
	if err != nil {
		return nil, err
	}
	a, b := sp.start, sp.end
	if a < 0 || body[a] == 'n' {
		if msg := sp.errorMessage(body); msg != "" {
			return nil, fmt.Errorf("response has no outputs; error: %s", msg)
		}
		return nil, errors.New(`response has no "outputs"`)
	}
	if body[a] != '[' {
		return nil, fmt.Errorf(`outputs: want an array of tensors, got %s`, kind(body[a:b]))
	}
	// The bytes before the array hold at least `{"outputs":`, one more
	// than reqPrefix; the closing '}' of the response follows it.
	var saveHead [len(reqPrefix)]byte
	head := body[a-len(reqPrefix) : a]
	copy(saveHead[:], head)
	saveTail := body[b]
	copy(head, reqPrefix)
	body[b] = '}'
	req, err := oip.DecodeInferRequest(body[a-len(reqPrefix):b+1], oip.Limits{MaxElements: len(body)/2 + 1})
	copy(head, saveHead[:])
	body[b] = saveTail
	if err != nil {
		if bad := sp.checkArray(body); bad != nil {
			return nil, bad // invalid JSON goes first
		}
		return nil, responseError(err, "inputs", "outputs")
	}
	return req.Inputs, nil
}

// errorMessage returns the response's "error" member, when it is a
// string.
func (sp *span) errorMessage(body []byte) string {
	var msg string
	if sp.errStart >= 0 {
		_ = json.Unmarshal(body[sp.errStart:sp.errEnd], &msg) // checked by scanResponse: cannot fail
	}
	return msg
}

// responseError turns an error of the oip decoder, an *InputError about
// what was decoded, into a plain error about the response, renaming the
// JSON path's first member.
func responseError(err error, from, to string) error {
	var ie *inference.InputError
	if !errors.As(err, &ie) {
		return err
	}
	field := ie.Field
	if rest, ok := strings.CutPrefix(field, from); ok {
		field = to + rest
	}
	if field == "" {
		return fmt.Errorf("invalid response: %s", ie.Msg)
	}
	return fmt.Errorf("invalid response: %s: %s", field, ie.Msg)
}

// tfOutput holds what decoding a TF Serving response needs to know about
// the model's single output.
type tfOutput struct {
	prefix []byte // {"inputs":[{"name":NAME,"datatype":"DT","shape":
	dt     inference.Datatype
}

func newTFOutput(spec inference.TensorSpec) tfOutput {
	name, _ := json.Marshal(spec.Name)
	var b []byte
	b = append(b, `{"inputs":[{"name":`...)
	b = append(b, name...)
	b = append(b, `,"datatype":"`...)
	b = append(b, spec.Datatype...)
	b = append(b, `","shape":`...)
	return tfOutput{prefix: b, dt: spec.Datatype}
}

// appendInstances appends {"instances": rows} for t, a validated tensor
// of rank 1 or more whose rows are nested as its shape. NaN and
// infinities are written as NaN, Infinity and -Infinity, which TF Serving
// reads.
func appendInstances(dst []byte, t *inference.Tensor) []byte {
	dst = append(dst, `{"instances":`...)
	shape := t.Shape
	if len(shape) == 0 {
		shape = []int64{int64(t.Len())}
	}
	i := 0
	dst = appendNested(dst, t, shape, &i)
	return append(dst, '}')
}

func appendNested(dst []byte, t *inference.Tensor, shape []int64, i *int) []byte {
	dst = append(dst, '[')
	for k := int64(0); k < shape[0]; k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		if len(shape) > 1 {
			dst = appendNested(dst, t, shape[1:], i)
			continue
		}
		dst = appendElem(dst, t, *i)
		*i++
	}
	return append(dst, ']')
}

func appendElem(dst []byte, t *inference.Tensor, i int) []byte {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return appendTFFloat(dst, float64(t.F32[i]), 32)
	case inference.FP64:
		return appendTFFloat(dst, t.F64[i], 64)
	case inference.UINT64:
		return strconv.AppendUint(dst, t.U64[i], 10)
	case inference.BOOL:
		return strconv.AppendBool(dst, t.Bool[i])
	}
	return strconv.AppendInt(dst, t.I64[i], 10)
}

func appendTFFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// decodePredictions decodes {"predictions": [...]} for rows instances
// into one tensor of the output's datatype, shaped as the array nests.
// scratch is reused to build the body handed to the oip decoder.
func decodePredictions(body []byte, rows int, out *tfOutput, scratch []byte) ([]inference.Tensor, []byte, error) {
	sp, err := scanResponse(body, "predictions")
	if err != nil {
		return nil, scratch, err
	}
	a, b := sp.start, sp.end
	if a < 0 || body[a] == 'n' {
		if msg := sp.errorMessage(body); msg != "" {
			return nil, scratch, fmt.Errorf("response has no predictions; error: %s", msg)
		}
		return nil, scratch, errors.New(`response has no "predictions"`)
	}
	if body[a] != '[' {
		return nil, scratch, fmt.Errorf("predictions: want an array, got %s", kind(body[a:b]))
	}
	var dims [8]int64
	shape, err := nestedShape(dims[:0], body[a:b], sp.elems)
	if err == nil && shape[0] != int64(rows) {
		err = fmt.Errorf("predictions: has %d rows for %d instances", shape[0], rows)
	}
	if err != nil {
		if bad := sp.checkArray(body); bad != nil {
			err = bad // invalid JSON goes first
		}
		return nil, scratch, err
	}
	w := append(scratch[:0], out.prefix...)
	w = append(w, '[')
	for i, d := range shape {
		if i > 0 {
			w = append(w, ',')
		}
		w = strconv.AppendInt(w, d, 10)
	}
	w = append(w, `],"data":`...)
	w = append(w, body[a:b]...)
	w = append(w, "}]}"...)
	req, err := oip.DecodeInferRequest(w, oip.Limits{MaxElements: len(body)/2 + 1})
	if err != nil {
		if bad := sp.checkArray(body); bad != nil {
			return nil, w, bad // invalid JSON goes first
		}
		return nil, w, responseError(err, "inputs[0].data", "predictions")
	}
	return req.Inputs, w, nil
}

// nestedShape appends to dst the shape of v, an array of n elements
// matched by matchArray, read from the lengths of its first elements at
// each level: [[1,2],[3,4],[5,6]] is [3,2]. The oip decoder then checks
// that every element agrees, and that v is valid JSON.
func nestedShape(dst []int64, v []byte, n int) ([]int64, error) {
	dst = append(dst, int64(n))
	i := 0
	for n > 0 {
		i = skipWS(v, i+1) // the first element
		if i >= len(v) || v[i] != '[' {
			if i < len(v) && v[i] == '{' {
				return nil, errors.New("predictions: rows are objects (a model with several named outputs); only models with one output are supported")
			}
			break
		}
		if len(dst) == 64 {
			return nil, errors.New("predictions: nested more than 64 deep")
		}
		var ok bool
		if _, n, ok = matchArray(v, i); !ok {
			break // v is not valid JSON, which the oip decoder reports
		}
		dst = append(dst, int64(n))
	}
	return dst, nil
}
