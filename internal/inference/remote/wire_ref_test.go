package remote

// The response decoders as they were when answers were checked with
// json.Valid before a scan that assumed valid JSON: the reference that
// FuzzDecodeV2ResponseDiff and FuzzDecodePredictionsDiff hold the
// validating decoders to.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// refDecodeV2Response decodes the outputs of an inference response. body is
// modified during the call and restored before it returns. Errors are
// plain errors (the backend's fault, not the caller's), naming the JSON
// path at fault.
func refDecodeV2Response(body []byte) ([]inference.Tensor, error) {
	m, err := refMembers(body, "outputs")
	if err != nil {
		return nil, err
	}
	a, b := m.start, m.end
	if a < 0 || body[a] == 'n' {
		if m.errMsg != "" {
			return nil, fmt.Errorf("response has no outputs; error: %s", m.errMsg)
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
		return nil, responseError(err, "inputs", "outputs")
	}
	return req.Inputs, nil
}

// refDecodePredictions decodes {"predictions": [...]} for rows instances
// into one tensor of the output's datatype, shaped as the array nests.
// scratch is reused to build the body handed to the oip decoder.
func refDecodePredictions(body []byte, rows int, out *tfOutput, scratch []byte) ([]inference.Tensor, []byte, error) {
	m, err := refMembers(body, "predictions")
	if err != nil {
		return nil, scratch, err
	}
	a, b := m.start, m.end
	if a < 0 || body[a] == 'n' {
		if m.errMsg != "" {
			return nil, scratch, fmt.Errorf("response has no predictions; error: %s", m.errMsg)
		}
		return nil, scratch, errors.New(`response has no "predictions"`)
	}
	if body[a] != '[' {
		return nil, scratch, fmt.Errorf("predictions: want an array, got %s", kind(body[a:b]))
	}
	shape, err := refNestedShape(body[a:b])
	if err != nil {
		return nil, scratch, err
	}
	if shape[0] != int64(rows) {
		return nil, scratch, fmt.Errorf("predictions: has %d rows for %d instances", shape[0], rows)
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
		return nil, w, responseError(err, "inputs[0].data", "predictions")
	}
	return req.Inputs, w, nil
}

// refNestedShape reads the shape of a nested array from the lengths of its
// first elements at each level: [[1,2],[3,4],[5,6]] is [3,2]. The oip
// decoder then checks that every element agrees.
func refNestedShape(v []byte) ([]int64, error) {
	var shape []int64
	i := 0
	for {
		i = refSkipWS(v, i)
		if i >= len(v) || v[i] != '[' {
			if i < len(v) && v[i] == '{' {
				return nil, errors.New("predictions: rows are objects (a model with several named outputs); only models with one output are supported")
			}
			return shape, nil
		}
		if len(shape) == 64 {
			return nil, errors.New("predictions: nested more than 64 deep")
		}
		first := refSkipWS(v, i+1)
		n := int64(0)
		if v[first] != ']' {
			for j := first; ; {
				j = refSkipWS(v, refSkipValue(v, j))
				n++
				if v[j] != ',' {
					break
				}
				j++
			}
		}
		shape = append(shape, n)
		if n == 0 {
			return shape, nil
		}
		i = first
	}
}

// refSpan locates one member of a response's top-level object.
type refSpan struct {
	start, end int    // the value's bytes, or -1, -1 when absent
	errMsg     string // the "error" member, when it is a string
}

// refMembers checks that body is a JSON object and finds the member called
// want and the "error" member.
func refMembers(body []byte, want string) (refSpan, error) {
	sp := refSpan{start: -1, end: -1}
	if !json.Valid(body) {
		return sp, errors.New("response is not valid JSON")
	}
	i := refSkipWS(body, 0)
	if body[i] != '{' {
		return sp, fmt.Errorf("response is %s, not a JSON object", kind(body[i:]))
	}
	i = refSkipWS(body, i+1)
	for body[i] != '}' {
		kEnd := refSkipString(body, i)
		key := body[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			_ = json.Unmarshal(body[i:kEnd], &s) // valid JSON: cannot fail
			key = []byte(s)
		}
		vStart := refSkipWS(body, refSkipWS(body, kEnd)+1) // past ':'
		vEnd := refSkipValue(body, vStart)
		switch string(key) {
		case want:
			if sp.start >= 0 {
				return sp, fmt.Errorf("response has %q twice", want)
			}
			sp.start, sp.end = vStart, vEnd
		case "error":
			if body[vStart] == '"' {
				_ = json.Unmarshal(body[vStart:vEnd], &sp.errMsg)
			}
		}
		i = refSkipWS(body, vEnd)
		if body[i] == ',' {
			i = refSkipWS(body, i+1)
		}
	}
	return sp, nil
}

// The skip functions walk JSON already checked by json.Valid.

func refSkipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// refSkipString returns the offset past the string starting at b[i] == '"'.
func refSkipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// refSkipValue returns the offset past the value starting at b[i].
func refSkipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return refSkipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = refSkipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
