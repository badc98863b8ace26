package onnx

import (
	"strconv"
)

// Field numbers from onnx.proto (ModelProto, GraphProto, NodeProto,
// AttributeProto, ValueInfoProto, TypeProto).
const (
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelDomain          = 4
	modelModelVersion    = 5
	modelDocString       = 6
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14
	modelTrainingInfo    = 20
	modelFunctions       = 25
	modelConfiguration   = 26

	graphNode   = 1
	graphInput  = 11
	graphOutput = 12

	nodeOutput    = 2
	nodeOpType    = 4
	nodeAttribute = 5

	attrName    = 1
	attrInts    = 8
	attrStrings = 9

	valueInfoName = 1
	valueInfoType = 2

	typeTensor   = 1
	typeSequence = 4
	typeMap      = 5
	typeSparse   = 8
	typeOptional = 9

	tensorTypeElem  = 1
	tensorTypeShape = 2
	shapeDim        = 1

	mapKeyType   = 1
	mapValueType = 2
	seqElemType  = 1
)

// maxIRVersion bounds the ir_version Detect accepts; ONNX is at 11 in 2025.
const maxIRVersion = 100

// looksLikeModel reports whether b starts like a serialized ONNX ModelProto:
// ir_version (field 1, a small varint) first, as every protobuf serializer
// writes fields in number order, then only ModelProto's own fields with
// their wire types, and a graph. A model cut short inside its graph still
// counts, so that loading it reports ONNX Runtime's error rather than "no
// format matches". Text (JSON, CSV, LightGBM) never starts with byte 0x08.
func looksLikeModel(b []byte) bool {
	if len(b) < 4 || b[0] != 0x08 {
		return false
	}
	r := wireReader{b: b}
	sawGraph := false
	for i := 0; ; i++ {
		num, typ, v, payload, ok, err := r.field()
		if err != nil {
			// A graph whose length runs past the end: a truncated model.
			return i > 0 && num == modelGraph && typ == wireBytes && v > 0
		}
		if !ok {
			return sawGraph
		}
		switch num {
		case modelIRVersion:
			if i != 0 || typ != wireVarint || v == 0 || v > maxIRVersion {
				return false
			}
		case modelModelVersion:
			if typ != wireVarint {
				return false
			}
		case modelGraph:
			if typ != wireBytes || len(payload) == 0 {
				return false
			}
			sawGraph = true
		case modelProducerName, modelProducerVersion, modelDomain, modelDocString,
			modelOpsetImport, modelMetadataProps, modelTrainingInfo, modelFunctions, modelConfiguration:
			if typ != wireBytes {
				return false
			}
		default:
			return false
		}
	}
}

// valueKind is the kind of an ONNX value: tensor, sequence, map, ...
type valueKind int

const (
	kindUnknown valueKind = iota
	kindTensor
	kindSequence
	kindMap
	kindSparseTensor
	kindOptional
)

func (k valueKind) String() string {
	switch k {
	case kindTensor:
		return "tensor"
	case kindSequence:
		return "sequence"
	case kindMap:
		return "map"
	case kindSparseTensor:
		return "sparse tensor"
	case kindOptional:
		return "optional"
	}
	return "value of unknown type"
}

// typeInfo is the part of an ONNX TypeProto Sluice uses.
type typeInfo struct {
	kind valueKind
	// elem is a tensor's element type, or a map's key type.
	elem elemType
	// hasShape tells whether a tensor type declares a shape, and rank its
	// number of dimensions. A tensor without a shape has unknown rank.
	hasShape bool
	rank     int
	// inner is a sequence's or optional's element type, or a map's value type.
	inner *typeInfo
}

func (t *typeInfo) String() string {
	switch t.kind {
	case kindTensor:
		return "tensor(" + t.elem.String() + ")"
	case kindSequence, kindOptional:
		if t.inner != nil {
			return t.kind.String() + "(" + t.inner.String() + ")"
		}
	case kindMap:
		if t.inner != nil {
			return "map(" + t.elem.String() + ", " + t.inner.String() + ")"
		}
	}
	return t.kind.String()
}

// graphInfo is what Sluice reads from the model's graph itself.
type graphInfo struct {
	// inputs and outputs by name.
	inputs, outputs map[string]*typeInfo
	// labels holds the class labels of each ZipMap node, by output name.
	labels map[string][]string
}

// readGraph reads the graph's declared inputs, outputs and ZipMap labels.
// A model it cannot parse returns an error; ONNX Runtime has already
// accepted the model when this runs, so that means an ONNX feature this
// reader does not know rather than a corrupt file.
func readGraph(model []byte) (graphInfo, error) {
	g := graphInfo{inputs: map[string]*typeInfo{}, outputs: map[string]*typeInfo{}, labels: map[string][]string{}}
	r := wireReader{b: model}
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil {
			return g, err
		}
		if !ok {
			return g, nil
		}
		if num == modelGraph && typ == wireBytes {
			if err := g.readGraphProto(payload); err != nil {
				return g, err
			}
		}
	}
}

func (g *graphInfo) readGraphProto(b []byte) error {
	r := wireReader{b: b}
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil || !ok {
			return err
		}
		if typ != wireBytes {
			continue
		}
		switch num {
		case graphInput, graphOutput:
			name, t, err := readValueInfo(payload)
			if err != nil {
				return err
			}
			if num == graphInput {
				g.inputs[name] = t
			} else {
				g.outputs[name] = t
			}
		case graphNode:
			if err := g.readNode(payload); err != nil {
				return err
			}
		}
	}
}

// readNode records the class labels of a ZipMap node.
func (g *graphInfo) readNode(b []byte) error {
	r := wireReader{b: b}
	var op string
	var outputs []string
	var labels []string
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if typ != wireBytes {
			continue
		}
		switch num {
		case nodeOpType:
			op = string(payload)
		case nodeOutput:
			outputs = append(outputs, string(payload))
		case nodeAttribute:
			l, err := readLabelsAttribute(payload)
			if err != nil {
				return err
			}
			if l != nil {
				labels = l
			}
		}
	}
	if op == "ZipMap" && len(outputs) > 0 && labels != nil {
		g.labels[outputs[0]] = labels
	}
	return nil
}

// readLabelsAttribute returns the labels of a classlabels_int64s or
// classlabels_strings attribute, or nil for any other attribute.
func readLabelsAttribute(b []byte) ([]string, error) {
	r := wireReader{b: b}
	var name string
	var ints []string
	var strs []string
	for {
		num, typ, v, payload, ok, err := r.field()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch {
		case num == attrName && typ == wireBytes:
			name = string(payload)
		case num == attrInts && typ == wireVarint:
			ints = append(ints, strconv.FormatInt(int64(v), 10))
		case num == attrInts && typ == wireBytes: // packed
			vs, err := packedVarints(payload)
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				ints = append(ints, strconv.FormatInt(int64(v), 10))
			}
		case num == attrStrings && typ == wireBytes:
			strs = append(strs, string(payload))
		}
	}
	switch name {
	case "classlabels_int64s":
		return append([]string{}, ints...), nil
	case "classlabels_strings":
		return append([]string{}, strs...), nil
	}
	return nil, nil
}

func readValueInfo(b []byte) (string, *typeInfo, error) {
	r := wireReader{b: b}
	var name string
	t := &typeInfo{}
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return name, t, nil
		}
		if typ != wireBytes {
			continue
		}
		switch num {
		case valueInfoName:
			name = string(payload)
		case valueInfoType:
			if t, err = readType(payload, 0); err != nil {
				return "", nil, err
			}
		}
	}
}

// maxTypeDepth bounds the nesting of sequence, map and optional types.
const maxTypeDepth = 16

func readType(b []byte, depth int) (*typeInfo, error) {
	if depth > maxTypeDepth {
		return nil, errWire
	}
	t := &typeInfo{}
	r := wireReader{b: b}
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil {
			return nil, err
		}
		if !ok {
			return t, nil
		}
		if typ != wireBytes {
			continue
		}
		switch num {
		case typeTensor, typeSparse:
			t.kind = kindTensor
			if num == typeSparse {
				t.kind = kindSparseTensor
			}
			if err := t.readTensorType(payload); err != nil {
				return nil, err
			}
		case typeSequence, typeOptional:
			t.kind = kindSequence
			if num == typeOptional {
				t.kind = kindOptional
			}
			inner, err := readSingleType(payload, seqElemType, depth)
			if err != nil {
				return nil, err
			}
			t.inner = inner
		case typeMap:
			t.kind = kindMap
			if err := t.readMapType(payload, depth); err != nil {
				return nil, err
			}
		}
	}
}

func (t *typeInfo) readTensorType(b []byte) error {
	r := wireReader{b: b}
	for {
		num, typ, v, payload, ok, err := r.field()
		if err != nil || !ok {
			return err
		}
		switch {
		case num == tensorTypeElem && typ == wireVarint:
			t.elem = elemType(v)
		case num == tensorTypeShape && typ == wireBytes:
			t.hasShape = true
			t.rank = 0
			dims := wireReader{b: payload}
			for {
				num, typ, _, _, ok, err := dims.field()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				if num == shapeDim && typ == wireBytes {
					t.rank++
				}
			}
		}
	}
}

func (t *typeInfo) readMapType(b []byte, depth int) error {
	r := wireReader{b: b}
	for {
		num, typ, v, payload, ok, err := r.field()
		if err != nil || !ok {
			return err
		}
		switch {
		case num == mapKeyType && typ == wireVarint:
			t.elem = elemType(v)
		case num == mapValueType && typ == wireBytes:
			if t.inner, err = readType(payload, depth+1); err != nil {
				return err
			}
		}
	}
}

// readSingleType reads the TypeProto in field num of a wrapper message
// (Sequence.elem_type, Optional.elem_type).
func readSingleType(b []byte, field int, depth int) (*typeInfo, error) {
	r := wireReader{b: b}
	for {
		num, typ, _, payload, ok, err := r.field()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		if num == field && typ == wireBytes {
			return readType(payload, depth+1)
		}
	}
}
