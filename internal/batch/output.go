package batch

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/internal/inference"
)

// predCol is one prediction column: element k of each row of output
// tensor t (width elements per row).
type predCol struct {
	Name   string             `json:"name"`
	Tensor int                `json:"tensor"`
	Width  int                `json:"width"`
	K      int                `json:"k"`
	Type   inference.Datatype `json:"datatype"`
}

// predColumns names the prediction columns of a model's outputs, probing
// the model with one row of missing values (or zeros) to learn the shapes.
func predColumns(ctx context.Context, m inference.Model, in inference.TensorSpec) ([]predCol, error) {
	nf := len(in.Features)
	x := make([]float32, nf)
	if in.AllowMissing {
		for i := range x {
			x[i] = nan32
		}
	}
	outs, err := m.Predict(ctx, []inference.Tensor{denseInput(in, 1, x)})
	if err != nil {
		return nil, fmt.Errorf("scoring a probe row to learn the model's outputs: %w", err)
	}
	sig := m.Signature()
	var cols []predCol
	for t, o := range outs {
		n := o.Len()
		name := o.Name
		var labels []string
		for _, s := range sig.Outputs {
			if s.Name == o.Name {
				labels = s.Labels
			}
		}
		if n == 1 {
			cols = append(cols, predCol{Name: name, Tensor: t, Width: 1, Type: o.Datatype})
			continue
		}
		for k := range n {
			cn := name + "_" + strconv.Itoa(k)
			if k < len(labels) && labels[k] != "" {
				cn = name + "_" + labels[k]
			}
			cols = append(cols, predCol{Name: cn, Tensor: t, Width: n, K: k, Type: o.Datatype})
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("the model returned no outputs")
	}
	return cols, nil
}

// denseInput wraps a row-major feature matrix as the model's input tensor.
func denseInput(in inference.TensorSpec, rows int, x []float32) inference.Tensor {
	nf := len(in.Features)
	t := inference.Tensor{Name: in.Name, Shape: []int64{int64(rows), int64(nf)}}
	switch in.Datatype {
	case inference.FP64:
		t.Datatype = inference.FP64
		t.F64 = make([]float64, len(x))
		for i, v := range x {
			t.F64[i] = float64(v)
		}
	default:
		t.Datatype = inference.FP32
		t.F32 = x
	}
	return t
}

// scores are a frame's predictions: the output tensors of its scored rows,
// and which row each scored row is.
type scores struct {
	outs []inference.Tensor
	// idx maps a frame row to its row in outs, -1 when rejected.
	idx []int32
}

// value returns prediction column c of frame row i.
func (s *scores) value(c *predCol, i int) Value {
	r := int(s.idx[i])
	t := &s.outs[c.Tensor]
	at := r*c.Width + c.K
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return Value{Kind: kindF32, F: float64(t.F32[at])}
	case inference.FP64:
		return Value{Kind: KindFloat, F: t.F64[at]}
	case inference.BOOL:
		return Value{Kind: KindBool, B: t.Bool[at]}
	case inference.UINT64:
		return Value{Kind: KindInt, I: int64(t.U64[at])}
	case inference.BYTES:
		return Value{Kind: KindString, S: string(t.Bytes[at])}
	}
	if len(t.I64) > at {
		return Value{Kind: KindInt, I: t.I64[at]}
	}
	return Value{}
}

// kindF32 marks a float32 prediction, written with float32's shortest form.
const kindF32 Kind = 100

// encoder turns scored frames into output bytes.
type encoder interface {
	// header is written once at the start of the data file.
	header(names []string) []byte
	// rows appends the frame's scored rows.
	rows(dst []byte, f *Frame, s *scores, keep []string, preds []predCol) []byte
}

func newEncoder(format string) encoder {
	switch format {
	case FormatCSV:
		return csvEncoder{}
	case FormatJSONL:
		return jsonlEncoder{}
	}
	return spoolEncoder{}
}

type csvEncoder struct{}

func (csvEncoder) header(names []string) []byte {
	var b []byte
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, n)
	}
	return append(b, '\n')
}

func (csvEncoder) rows(dst []byte, f *Frame, s *scores, _ []string, preds []predCol) []byte {
	for i := range f.Rows {
		if s.idx[i] < 0 {
			continue
		}
		for k := range f.Kept {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = appendCSVField(dst, f.Kept[k][i].Text())
		}
		for c := range preds {
			if c > 0 || len(f.Kept) > 0 {
				dst = append(dst, ',')
			}
			dst = appendText(dst, s.value(&preds[c], i))
		}
		dst = append(dst, '\n')
	}
	return dst
}

// appendText appends a prediction as CSV text.
func appendText(dst []byte, v Value) []byte {
	switch v.Kind {
	case kindF32:
		if math.IsNaN(v.F) {
			return dst
		}
		return strconv.AppendFloat(dst, v.F, 'g', -1, 32)
	case KindFloat:
		if math.IsNaN(v.F) {
			return dst
		}
		return strconv.AppendFloat(dst, v.F, 'g', -1, 64)
	}
	return appendCSVField(dst, v.Text())
}

// csvQuoted marks the bytes that make a CSV field need quotes.
var csvQuoted = [256]bool{',': true, '"': true, '\n': true, '\r': true}

// appendCSVField appends s as one CSV field, quoted when it holds a comma,
// quote or line break or starts with a space or tab.
func appendCSVField(dst []byte, s string) []byte {
	needs := len(s) > 0 && (s[0] == ' ' || s[0] == '\t')
	for i := 0; i < len(s) && !needs; i++ {
		needs = csvQuoted[s[i]]
	}
	if !needs {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

type jsonlEncoder struct{}

func (jsonlEncoder) header([]string) []byte { return nil }

// rows appends the frame's scored rows as JSON objects.
func (jsonlEncoder) rows(dst []byte, f *Frame, s *scores, keep []string, preds []predCol) []byte {
	for i := range f.Rows {
		if s.idx[i] < 0 {
			continue
		}
		dst = append(dst, '{')
		first := true
		field := func(name string) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = strconv.AppendQuote(dst, name)
			dst = append(dst, ':')
		}
		for k, name := range keep {
			field(name)
			dst = appendJSON(dst, f.Kept[k][i])
		}
		for c := range preds {
			field(preds[c].Name)
			dst = appendJSON(dst, s.value(&preds[c], i))
		}
		dst = append(dst, '}', '\n')
	}
	return dst
}

func appendJSON(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindString:
		b, _ := json.Marshal(v.S)
		return append(dst, b...)
	case KindInt:
		return strconv.AppendInt(dst, v.I, 10)
	case KindFloat, kindF32:
		if math.IsNaN(v.F) || math.IsInf(v.F, 0) {
			return append(dst, "null"...)
		}
		bits := 64
		if v.Kind == kindF32 {
			bits = 32
		}
		return strconv.AppendFloat(dst, v.F, 'g', -1, bits)
	case KindBool:
		return strconv.AppendBool(dst, v.B)
	}
	return append(dst, "null"...)
}

// spoolEncoder writes rows in Sluice's spool format, from which a Parquet
// file is written once the run is complete: a magic line, then one block
// per chunk: its length in bytes (uint64) and rows (uint32), little
// endian, then per row, per column, a kind byte and the value. The block
// headers let the Parquet writer find its row groups without decoding
// every value first.
type spoolEncoder struct{}

// spoolMagic starts every spool file.
const spoolMagic = "SLSPOOL2"

// spoolBlockHeader is the size of a block's header.
const spoolBlockHeader = 12

func (spoolEncoder) header([]string) []byte { return []byte(spoolMagic) }

func (spoolEncoder) rows(dst []byte, f *Frame, s *scores, _ []string, preds []predCol) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, spoolBlockHeader)...)
	n := 0
	for i := range f.Rows {
		if s.idx[i] < 0 {
			continue
		}
		n++
		for k := range f.Kept {
			dst = appendSpool(dst, f.Kept[k][i])
		}
		for c := range preds {
			dst = appendSpool(dst, s.value(&preds[c], i))
		}
	}
	if n == 0 {
		return dst[:at]
	}
	binary.LittleEndian.PutUint64(dst[at:], uint64(len(dst)-at-spoolBlockHeader))
	binary.LittleEndian.PutUint32(dst[at+8:], uint32(n))
	return dst
}

func appendSpool(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.Kind))
	switch v.Kind {
	case KindString:
		dst = binary.AppendUvarint(dst, uint64(len(v.S)))
		return append(dst, v.S...)
	case KindInt:
		return binary.LittleEndian.AppendUint64(dst, uint64(v.I))
	case KindFloat:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.F))
	case kindF32:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(v.F)))
	case KindBool:
		if v.B {
			return append(dst, 1)
		}
		return append(dst, 0)
	}
	return dst
}

// readSpool decodes one value from b, returning it and the bytes used.
func readSpool(b []byte) (Value, int, error) {
	if len(b) == 0 {
		return Value{}, 0, fmt.Errorf("spool: truncated value")
	}
	v := Value{Kind: Kind(b[0])}
	switch v.Kind {
	case KindNull:
		return v, 1, nil
	case KindString:
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || uint64(len(b)-1-w) < n {
			return v, 0, fmt.Errorf("spool: truncated string")
		}
		v.S = string(b[1+w : 1+w+int(n)])
		return v, 1 + w + int(n), nil
	case KindInt, KindFloat:
		if len(b) < 9 {
			return v, 0, fmt.Errorf("spool: truncated number")
		}
		u := binary.LittleEndian.Uint64(b[1:])
		if v.Kind == KindInt {
			v.I = int64(u)
		} else {
			v.F = math.Float64frombits(u)
		}
		return v, 9, nil
	case kindF32:
		if len(b) < 5 {
			return v, 0, fmt.Errorf("spool: truncated number")
		}
		v.F = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[1:])))
		return v, 5, nil
	case KindBool:
		if len(b) < 2 {
			return v, 0, fmt.Errorf("spool: truncated bool")
		}
		v.B = b[1] == 1
		return v, 2, nil
	}
	return v, 0, fmt.Errorf("spool: unknown kind %d", v.Kind)
}
