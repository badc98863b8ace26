package oip

import (
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

// DefaultMaxElements is the element limit used when Limits.MaxElements is 0.
const DefaultMaxElements = 16 << 20

// maxDims bounds the number of dimensions of a tensor, as NumPy does.
const maxDims = 64

// Limits bound what one request may ask of the server.
type Limits struct {
	// MaxElements bounds the total number of tensor elements in one
	// request: summed over all inputs of an inference request, rows times
	// features for instances. 0 means DefaultMaxElements (16M).
	MaxElements int
}

func (l Limits) maxElements() int {
	if l.MaxElements <= 0 {
		return DefaultMaxElements
	}
	return l.MaxElements
}

// InferRequest is a decoded POST /v2/models/{m}/infer body.
type InferRequest struct {
	// ID is the request's "id", or empty. The response must echo it.
	ID string
	// Parameters are the request-level parameters; see Params.
	Parameters Params
	// Inputs are the input tensors in request order, each validated: a
	// known datatype, a shape whose product is the number of elements,
	// values in range for the datatype. Names are unique and not empty.
	Inputs []inference.Tensor
	// InputParameters holds each input's "parameters", parallel to Inputs.
	// It is nil when no input has parameters.
	InputParameters []map[string]any
	// Outputs are the requested outputs; empty means all of them.
	Outputs []RequestedOutput
}

// RequestedOutput is one entry of an inference request's "outputs".
type RequestedOutput struct {
	// Name of the output tensor; unique within the request, not empty.
	Name string
	// Parameters of the output, or nil. "binary_data": true is accepted
	// and ignored: the output is returned as JSON.
	Parameters map[string]any
}

// Bits for the members of a request or tensor object, to catch duplicates.
const (
	fieldID = 1 << iota
	fieldParameters
	fieldInputs
	fieldOutputs
	fieldName
	fieldShape
	fieldDatatype
	fieldData
)

// knownField returns the bit for a member name, or 0 for one to ignore.
func knownField(key []byte, tensor bool) int {
	if tensor {
		switch string(key) {
		case "name":
			return fieldName
		case "shape":
			return fieldShape
		case "datatype":
			return fieldDatatype
		case "data":
			return fieldData
		case "parameters":
			return fieldParameters
		}
		return 0
	}
	switch string(key) {
	case "id":
		return fieldID
	case "parameters":
		return fieldParameters
	case "inputs":
		return fieldInputs
	case "outputs":
		return fieldOutputs
	}
	return 0
}

// reqDecoder decodes one inference request, or one array of tensors.
type reqDecoder struct {
	scanner
	max   int    // element limit
	total int    // elements of the inputs decoded so far
	list  string // the JSON path of the tensors' array, for errors
	// first and firstOut are empty slices with room for the first tensor
	// and requested output, in the block that holds the arena.
	first    []inference.Tensor
	firstOut []RequestedOutput
	// checkOnly has tensor parameters checked as strictly as they are
	// read, but not kept.
	checkOnly bool
	mem       arena // the rest of the block's arena
}

// DecodeInferRequest decodes and validates an Open Inference Protocol v2
// inference request. Every error is an *inference.InputError naming the
// JSON path at fault. The result does not alias body. A small request
// (one input and output, a few hundred bytes) takes one allocation; see
// reqBlock.
func DecodeInferRequest(body []byte, lim Limits) (*InferRequest, error) {
	blk := new(reqBlock)
	d := reqDecoder{
		scanner:  scanner{buf: body},
		max:      lim.maxElements(),
		list:     "inputs",
		first:    blk.in[:0:len(blk.in)],
		firstOut: blk.out[:0:len(blk.out)],
		mem:      arena{mem: blk.arena[:]},
	}
	if err := d.request(&blk.req); err != nil {
		return nil, err
	}
	return &blk.req, nil
}

// DecodeTensors decodes the JSON array of tensors at body[at] (after
// whitespace), a member of a document's top-level object, as
// DecodeInferRequest decodes a request's "inputs": with the same checks,
// nesting counted from the top-level object, and lim counting the
// elements of these tensors only. It returns the tensors and the offset
// just past the array. It is for documents read by their caller, such as
// an inference response, whose "outputs" have the form of a request's
// "inputs": the caller reads the rest of the document and hands over the
// array where it stands, without copying or changing body.
//
// Each tensor's "parameters" are checked as in a request, but not
// returned. Errors are *inference.InputError, with JSON paths that start
// with list, the array's name ("outputs[0].shape"). The result does not
// alias body. A small array (one tensor, a few hundred bytes) takes one
// allocation, sized to what is left of body from at.
func DecodeTensors(body []byte, at int, list string, lim Limits) ([]inference.Tensor, int, error) {
	if at < 0 || at > len(body) {
		return nil, at, fmt.Errorf("oip: DecodeTensors at offset %d of a %d-byte body", at, len(body))
	}
	d := reqDecoder{scanner: scanner{buf: body, pos: at, depth: 1}, max: lim.maxElements(), list: list, checkOnly: true}
	if d.peek() != '[' {
		return nil, d.pos, d.typeError(list, "an array of tensors")
	}
	d.first, d.mem.mem = newTensorBlock(len(body) - d.pos)
	ts, _, err := d.tensors()
	if err != nil {
		return nil, d.pos, err
	}
	return ts, d.pos, nil
}

// topObject positions s inside the top-level object, or explains why the
// body is not one.
func (s *scanner) topObject(what string) error {
	switch c := s.peek(); c {
	case '{':
		return s.enter()
	case 0:
		if len(s.buf) == 0 {
			return syntaxError(0, "unexpected end of input (the body is empty)")
		}
	}
	kind, err := s.describe()
	if err != nil {
		return err
	}
	if err := s.skip(); err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	return &inference.InputError{Msg: fmt.Sprintf("body must be a JSON object (%s), got %s", what, kind)}
}

// end checks that nothing but whitespace follows the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 || s.pos < len(s.buf) {
		return syntaxError(s.pos, "unexpected data after the top-level value")
	}
	return nil
}

func (d *reqDecoder) request(req *InferRequest) error {
	s := &d.scanner
	if err := s.topObject("an inference request"); err != nil {
		return err
	}
	var seen int
	var other keySet
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		f := knownField(key, false)
		if f == 0 {
			if other.add(s, key) {
				return duplicateKey(s.keyAt, "", key)
			}
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if seen&f != 0 {
			return duplicateKey(s.keyAt, "", key)
		}
		seen |= f
		switch f {
		case fieldID:
			switch s.peek() {
			case '"':
				b, err := s.readString()
				if err != nil {
					return err
				}
				req.ID = d.mem.string(b)
			case 'n':
				err = s.literal("null")
			default:
				err = s.typeError("id", "a string")
			}
		case fieldParameters:
			var raw []byte
			if raw, err = s.checkParams(func() string { return "parameters" }); raw != nil {
				req.Parameters.json = d.mem.bytes(raw)
			}
		case fieldInputs:
			err = d.inputs(req)
		case fieldOutputs:
			err = d.outputs(req)
		}
		if err != nil {
			return err
		}
	}
	if err := s.end(); err != nil {
		return err
	}
	if req.Inputs == nil {
		return inference.Inputf("inputs", "required field is missing")
	}
	return nil
}

// inputs reads the "inputs" array.
func (d *reqDecoder) inputs(req *InferRequest) error {
	s := &d.scanner
	switch s.peek() {
	case '[':
	case 'n':
		return s.literal("null") // treated as missing
	default:
		return s.typeError("inputs", "an array of input tensors")
	}
	var err error
	req.Inputs, req.InputParameters, err = d.tensors()
	return err
}

// tensors reads the array of tensors at s.pos, which is '[', and the
// parameters of each tensor, nil when none has any (or with checkOnly).
func (d *reqDecoder) tensors() (ts []inference.Tensor, params []map[string]any, err error) {
	s := &d.scanner
	if err := s.enter(); err != nil {
		return nil, nil, err
	}
	ts = d.first
	for i := 0; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		if c != '{' {
			return nil, nil, s.typeError(elemPath(d.list, i), "an input tensor object")
		}
		ts = append(ts, inference.Tensor{})
		p, err := d.input(i, &ts[i])
		if err != nil {
			return nil, nil, err
		}
		if p != nil && params == nil {
			params = make([]map[string]any, i, cap(ts))
		}
		if params != nil {
			params = append(params, p)
		}
	}
	if len(ts) == 0 {
		return nil, nil, inference.Inputf(d.list, "at least one input is required")
	}
	return ts, params, checkUnique(len(ts), func(i int) string { return ts[i].Name }, d.list, "input")
}

// checkUnique reports the first name that appears twice.
func checkUnique(n int, name func(int) string, list, what string) error {
	if n <= 16 {
		for i := 1; i < n; i++ {
			for j := 0; j < i; j++ {
				if name(i) == name(j) {
					return inference.Inputf(fmt.Sprintf("%s[%d].name", list, i), "duplicate %s name %q (also %s[%d])", what, name(i), list, j)
				}
			}
		}
		return nil
	}
	first := make(map[string]int, n)
	for i := 0; i < n; i++ {
		if j, dup := first[name(i)]; dup {
			return inference.Inputf(fmt.Sprintf("%s[%d].name", list, i), "duplicate %s name %q (also %s[%d])", what, name(i), list, j)
		}
		first[name(i)] = i
	}
	return nil
}

// input reads the input tensor object at s.pos into t and returns its
// parameters, unless d.checkOnly.
func (d *reqDecoder) input(idx int, t *inference.Tensor) (params map[string]any, err error) {
	s := &d.scanner
	field := func(name string) string { return elemPath(d.list, idx) + "." + name }
	if err := s.enter(); err != nil {
		return nil, err
	}
	var seen, have int // members seen (to catch duplicates), members not null
	var other keySet
	dataAt, dataDepth := -1, 0 // where "data" is, when read after the object
	var rawParams []byte       // the parameters' JSON, with checkOnly
	for i := 0; ; i++ {
		key, ok, err := s.nextKey(i)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		f := knownField(key, true)
		if f == 0 {
			if other.add(s, key) {
				return nil, duplicateKey(s.keyAt, elemPath(d.list, idx), key)
			}
			if err := s.skip(); err != nil {
				return nil, err
			}
			continue
		}
		if seen&f != 0 {
			return nil, duplicateKey(s.keyAt, elemPath(d.list, idx), key)
		}
		seen |= f
		c := s.peek()
		if c == 'n' && f != fieldParameters {
			// null is the same as leaving the field out.
			if err := s.literal("null"); err != nil {
				return nil, err
			}
			continue
		}
		have |= f
		switch f {
		case fieldName:
			if c != '"' {
				return nil, s.typeError(field("name"), "a string")
			}
			b, err := s.readString()
			if err != nil {
				return nil, err
			}
			if len(b) == 0 {
				return nil, inference.Inputf(field("name"), "must not be empty")
			}
			t.Name = d.mem.string(b)
		case fieldDatatype:
			if c != '"' {
				return nil, s.typeError(field("datatype"), "a string")
			}
			b, err := s.readString()
			if err != nil {
				return nil, err
			}
			if t.Datatype, err = parseDatatype(b); err != nil {
				return nil, inference.Inputf(field("datatype"), "%s", err)
			}
		case fieldShape:
			if t.Shape, err = d.shape(idx); err != nil {
				return nil, err
			}
		case fieldParameters:
			path := func() string { return field("parameters") }
			if d.checkOnly {
				rawParams, err = s.checkParams(path)
			} else {
				params, err = s.readParams(path)
			}
			if err != nil {
				return nil, err
			}
		case fieldData:
			if c != '[' {
				return nil, s.typeError(field("data"), "an array")
			}
			if have&fieldDatatype != 0 && have&fieldShape != 0 {
				if err := d.data(idx, t); err != nil {
					return nil, err
				}
				continue
			}
			// Datatype or shape come later: decode once both are known.
			dataAt, dataDepth = s.pos, s.depth
			if err := s.skip(); err != nil {
				return nil, err
			}
		}
	}
	if params != nil || rawParams != nil {
		for _, ext := range [...]string{"binary_data_size", "shared_memory_region"} {
			if _, ok := params[ext]; ok || hasMember(rawParams, ext) {
				return nil, inference.Inputf(field("parameters."+ext), "%s", unsupportedExtension(ext))
			}
		}
	}
	const required = fieldName | fieldDatatype | fieldShape | fieldData
	if have&required != required {
		for _, req := range [...]struct {
			bit  int
			name string
		}{{fieldName, "name"}, {fieldDatatype, "datatype"}, {fieldShape, "shape"}, {fieldData, "data"}} {
			if have&req.bit == 0 {
				return nil, inference.Inputf(field(req.name), "required field is missing")
			}
		}
	}
	if dataAt >= 0 {
		end, depth := s.pos, s.depth
		s.pos, s.depth = dataAt, dataDepth
		if err := d.data(idx, t); err != nil {
			return nil, err
		}
		s.pos, s.depth = end, depth
	}
	return params, nil
}

// elemPath is the JSON path of element i of the array at path list:
// inputs[2]. It concatenates rather than formats, so that list, a field
// of a decoder, is not taken for escaping with the rest of the decoder.
func elemPath(list string, i int) string {
	return list + "[" + strconv.Itoa(i) + "]"
}

// unsupportedExtension explains a parameter that asks for a protocol
// extension this server does not implement.
func unsupportedExtension(name string) string {
	switch name {
	case "binary_data_size":
		return `the binary tensor data extension is not supported; send the tensor as a JSON array in "data"`
	case "shared_memory_region":
		return "the shared-memory extension is not supported; send tensors in the request body"
	}
	return "not supported"
}

// parseDatatype maps a datatype name to its constant without allocating.
func parseDatatype(b []byte) (inference.Datatype, error) {
	switch string(b) {
	case "BOOL":
		return inference.BOOL, nil
	case "UINT8":
		return inference.UINT8, nil
	case "UINT16":
		return inference.UINT16, nil
	case "UINT32":
		return inference.UINT32, nil
	case "UINT64":
		return inference.UINT64, nil
	case "INT8":
		return inference.INT8, nil
	case "INT16":
		return inference.INT16, nil
	case "INT32":
		return inference.INT32, nil
	case "INT64":
		return inference.INT64, nil
	case "FP16":
		return inference.FP16, nil
	case "FP32":
		return inference.FP32, nil
	case "FP64":
		return inference.FP64, nil
	case "BYTES":
		return inference.BYTES, nil
	}
	return inference.ParseDatatype(string(truncate(b)))
}

// shape reads a shape array and counts its elements against the limit.
func (d *reqDecoder) shape(idx int) ([]int64, error) {
	s := &d.scanner
	field := func() string { return elemPath(d.list, idx) + ".shape" }
	if s.peek() != '[' {
		return nil, s.typeError(field(), "an array of dimensions")
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	// Read the dimensions on the stack, then copy them to the arena: most
	// shapes have a few.
	var dims [8]int64
	read := dims[:0]
	for i := 0; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if i == maxDims {
			return nil, inference.Inputf(field(), "has more than %d dimensions", maxDims)
		}
		if neg, mag, end, ok := s.readInt(); ok && (!neg || mag == 0) {
			s.pos = end // a plain dimension; readNumber reports the rest
			read = append(read, int64(mag))
			continue
		}
		dimField := func() string { return elemPath(d.list, idx) + ".shape[" + strconv.Itoa(i) + "]" }
		if c != '-' && (c < '0' || c > '9') {
			return nil, s.typeError(dimField(), "a dimension (an integer, 0 or more)")
		}
		at := s.pos
		n, err := s.readNumber()
		if err != nil {
			return nil, err
		}
		neg, mag, ok := parseUint(n)
		switch {
		case !n.isInt:
			s.pos = at
			return nil, s.typeError(dimField(), "a dimension (an integer, 0 or more)")
		case neg && mag != 0:
			return nil, inference.Inputf(dimField(), "is %s; dimensions must be 0 or more (-1 only appears in model metadata)", n.lit)
		case !ok || mag > 1<<62:
			return nil, inference.Inputf(dimField(), "%s is too large", truncate(n.lit))
		}
		read = append(read, int64(mag))
	}
	shape := append(d.mem.int64s(len(read)), read...)
	n, err := inference.NumElements(shape)
	if err != nil || n > d.max-d.total {
		return nil, inference.Inputf(field(), "%s has too many elements: a request may hold at most %d", formatShape(shape), d.max)
	}
	d.total += n
	return shape, nil
}

// parseUint reads the magnitude of an integer literal; ok is false when it
// overflows uint64. The literal has passed readNumber.
func parseUint(n number) (neg bool, mag uint64, ok bool) {
	lit := n.lit
	if len(lit) > 0 && lit[0] == '-' {
		neg, lit = true, lit[1:]
	}
	for _, c := range lit {
		if c < '0' || c > '9' {
			break // fraction or exponent: the caller checks isInt
		}
		if mag > (1<<64-1)/10 {
			return neg, 0, false
		}
		m := mag*10 + uint64(c-'0')
		if m < mag {
			return neg, 0, false
		}
		mag = m
	}
	return neg, mag, true
}

// formatShape writes a shape the way JSON does: [2,3].
func formatShape(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", d)
	}
	return string(append(b, ']'))
}

// outputs reads the "outputs" array.
func (d *reqDecoder) outputs(req *InferRequest) error {
	s := &d.scanner
	switch s.peek() {
	case '[':
	case 'n':
		return s.literal("null")
	default:
		return s.typeError("outputs", "an array of requested outputs")
	}
	if err := s.enter(); err != nil {
		return err
	}
	req.Outputs = d.firstOut
	for i := 0; ; i++ {
		c, ok, err := s.nextElem(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		field := func(name string) string { return fmt.Sprintf("outputs[%d].%s", i, name) }
		if c != '{' {
			return s.typeError(fmt.Sprintf("outputs[%d]", i), "an object")
		}
		if err := s.enter(); err != nil {
			return err
		}
		var out RequestedOutput
		var seen int
		var named bool
		var other keySet
		for k := 0; ; k++ {
			key, ok, err := s.nextKey(k)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			f := knownField(key, true)
			if f != fieldName && f != fieldParameters {
				if other.add(s, key) {
					return duplicateKey(s.keyAt, fmt.Sprintf("outputs[%d]", i), key)
				}
				if err := s.skip(); err != nil {
					return err
				}
				continue
			}
			if seen&f != 0 {
				return duplicateKey(s.keyAt, fmt.Sprintf("outputs[%d]", i), key)
			}
			seen |= f
			if f == fieldParameters {
				if out.Parameters, err = s.readParams(func() string { return field("parameters") }); err != nil {
					return err
				}
				continue
			}
			switch s.peek() {
			case '"':
				b, err := s.readString()
				if err != nil {
					return err
				}
				if len(b) == 0 {
					return inference.Inputf(field("name"), "must not be empty")
				}
				out.Name = d.mem.string(b)
				named = true
			case 'n':
				if err := s.literal("null"); err != nil {
					return err
				}
			default:
				return s.typeError(field("name"), "a string")
			}
		}
		if !named {
			return inference.Inputf(field("name"), "required field is missing")
		}
		if out.Parameters != nil {
			if _, ok := out.Parameters["shared_memory_region"]; ok {
				return inference.Inputf(field("parameters.shared_memory_region"), "%s", unsupportedExtension("shared_memory_region"))
			}
		}
		req.Outputs = append(req.Outputs, out)
	}
	return checkUnique(len(req.Outputs), func(i int) string { return req.Outputs[i].Name }, "outputs", "output")
}
