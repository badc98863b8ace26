package remote

// The v2 response decoder as it was before it read a response in one
// pass (decodeV2Outputs) is kept as explainV2Response: a scan of the
// whole response, then the oip request decoder on the outputs array,
// rewritten as a request's "inputs". TestDecodeV2ResponseTwoPass and FuzzDecodeV2ResponseTwoPass
// hold the one-pass decoder to it: the same tensors bit for bit, the same
// error text, and a fast path that accepts exactly what it accepts.

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// checkTwoPass fails t unless decodeV2Response gives for body what
// explainV2Response, the former two-pass reading, gives, and
// decodeV2Outputs accepts body exactly when the two-pass decoder does,
// with the same tensors.
func checkTwoPass(t *testing.T, body []byte) {
	t.Helper()
	orig := bytes.Clone(body)
	want, wantErr := explainV2Response(bytes.Clone(body))
	got, err := decodeV2Response(body)
	if !bytes.Equal(body, orig) {
		t.Fatalf("body changed:\n%q\nwas\n%q", body, orig)
	}
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%q:\ngot %+v, %v\nthe two-pass decoder %+v, %v", body, got, err, want, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("%q:\nerror %q\nthe two-pass decoder's %q", body, err, wantErr)
	}
	if msg := diffTensors(want, got); msg != "" {
		t.Fatalf("%q: %s", body, msg)
	}
	fast, ok := decodeV2Outputs(body)
	if ok != (wantErr == nil) {
		t.Fatalf("%q: the one-pass decoder says ok %v, the two-pass decoder %v", body, ok, wantErr)
	}
	if msg := diffTensors(want, fast); ok && msg != "" {
		t.Fatalf("%q: one pass: %s", body, msg)
	}
}

// diffTensors describes the first difference between two lists of
// tensors, values compared bit for bit and nil slices told from empty
// ones, or returns "".
func diffTensors(want, got []inference.Tensor) string {
	if len(want) != len(got) || (want == nil) != (got == nil) {
		return fmt.Sprintf("%d tensors (nil %v), want %d (nil %v)", len(got), got == nil, len(want), want == nil)
	}
	for i := range want {
		w, g := &want[i], &got[i]
		var d string
		switch {
		case w.Name != g.Name || w.Datatype != g.Datatype:
			d = fmt.Sprintf("%q %s, want %q %s", g.Name, g.Datatype, w.Name, w.Datatype)
		case !sameSlice(w.Shape, g.Shape, func(a, b int64) bool { return a == b }):
			d = fmt.Sprintf("shape %v, want %v", g.Shape, w.Shape)
		case !sameSlice(w.F32, g.F32, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }):
			d = fmt.Sprintf("F32 %v, want %v", g.F32, w.F32)
		case !sameSlice(w.F64, g.F64, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }):
			d = fmt.Sprintf("F64 %v, want %v", g.F64, w.F64)
		case !sameSlice(w.I64, g.I64, func(a, b int64) bool { return a == b }):
			d = fmt.Sprintf("I64 %v, want %v", g.I64, w.I64)
		case !sameSlice(w.U64, g.U64, func(a, b uint64) bool { return a == b }):
			d = fmt.Sprintf("U64 %v, want %v", g.U64, w.U64)
		case !sameSlice(w.Bool, g.Bool, func(a, b bool) bool { return a == b }):
			d = fmt.Sprintf("Bool %v, want %v", g.Bool, w.Bool)
		case !sameSlice(w.Bytes, g.Bytes, func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }):
			d = fmt.Sprintf("Bytes %q, want %q", g.Bytes, w.Bytes)
		}
		if d != "" {
			return fmt.Sprintf("outputs[%d]: %s", i, d)
		}
	}
	return ""
}

func sameSlice[T any](a, b []T, eq func(T, T) bool) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if !eq(a[i], b[i]) {
			return false
		}
	}
	return true
}

// twoPassCorpus returns the bodies of the decoder's tests and fuzz
// corpus, and responses of every shape the tests use. With big, it
// includes large ones, which slow the fuzzer down (it spends its time
// minimizing them).
func twoPassCorpus(t testing.TB, big bool) [][]byte {
	const tensor = `{"name":"y","datatype":"FP32","shape":[1],"data":[1]}`
	var bodies [][]byte
	if big {
		bodies = [][]byte{
			largeV2Answer(),
			[]byte(`{"outputs":[` + tensor + `],"parameters":` + nest(maxDepth-1, "") + `}`),
			[]byte(`{"outputs":[` + tensor + `],"parameters":` + nest(maxDepth, "") + `}`),
			[]byte(`{"outputs":[` + tensor + `,` + nest(maxDepth-2, "") + `]}`),
			[]byte(`{"outputs":[` + tensor + `,` + nest(maxDepth-1, "") + `]}`),
			[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":` + nest(maxDepth-3, "1") + `}]}`),
			[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":` + nest(maxDepth-2, "1") + `}]}`),
		}
	}
	bodies = append(bodies, [][]byte{
		oip.AppendInferResponse(nil, &oip.InferResponse{ModelName: "m", ID: "1", Outputs: sampleTensors()}),
		[]byte(smallV2Answer),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"content_type":"np"}}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"binary_data_size":4}}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"shared_memory_region":"r","binary_data_size":4}}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"a":1,"a":2}}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"a":1e999}}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"x":{"a":1,"a":2}}]}`),
		[]byte(`{"outputs":[{"name":"y\xff","datatype":"FP32","shape":[1],"data":[1]}]}`),
		[]byte(`{"outputs":[` + tensor + `,` + tensor + `]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"INT64","shape":[3],"data":[1,2,3]},{"name":"z","datatype":"FP64","shape":[1],"data":[1e400]}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[200],"data":[` + strings.Repeat("1,", 199) + `1]}]}`),
		[]byte(`{"outputs":[{"name":"y","datatype":"FP32","shape":[201],"data":[` + strings.Repeat("1,", 200) + `1]}]}`),
	}...)
	// Every body of the decoder's other tests.
	for _, s := range []string{
		`{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1,2]}]}`,
		` { "model_name" : "m" , "outputs" : [ {"name":"y","datatype":"FP32","shape":[2,1],"data":[[1],[2]],"parameters":{"a":1}} ] , "x":{"outputs":1} } `,
		`{"outp\u0075ts":[{"name":"y","datatype":"FP32","shape":[2],"data":[1,null]}]}`,
		``, `{"outputs":[}`, `[1]`, `{}`, `{"outputs":null,"error":"model exploded"}`, `{"error":"model exploded"}`,
		`{"outputs":{}}`, `{"outputs":[],"outputs":[]}`, `{"outputs":[]}`,
		`{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1]}]}`,
		`{"outputs":[{"name":"y","datatype":"INT8","shape":[1],"data":[300]}]}`,
		`{"outputs":[{"name":"y","datatype":"FP32","shape":[1000000000],"data":[1]}]}`,
		`{"model_name":"m` + "\n" + `","outputs":[` + tensor + `]}`,
		`{"outputs":[` + tensor + `],"parameters":{"a":[1,]}}`,
		`{"outputs":[` + tensor + `]} x`, `{"outputs":[` + tensor + `]}}`, `{"outputs":[` + tensor + `]`,
		`{"outputs":[` + tensor + `,]}`, `{"outputs":[` + tensor,
		`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1e]}]}`,
		`{"outputs":[{"name":"y","datatype":"INT8","shape":[1],"data":[300]},{"x":tru}]}`,
		`{"outputs":[` + tensor + `],"outputs":[1,}]}`,
		`{"outputs":[` + tensor + `],"outputs":[]}`,
		`{"outputs":{"a":1,}}`, `{"error":"bad` + "\t" + `"}`, `[1,2`, `"a" "b"`,
	} {
		bodies = append(bodies, []byte(s))
	}
	// The fuzz corpora of the response decoders.
	for _, dir := range []string{"FuzzDecodeV2ResponseDiff", "FuzzDecodeV2ResponseTwoPass"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
				t.Fatalf("%s: not a corpus entry of one []byte", f)
			}
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			bodies = append(bodies, []byte(s))
		}
	}
	return bodies
}

func TestDecodeV2ResponseTwoPass(t *testing.T) {
	for _, body := range twoPassCorpus(t, true) {
		checkTwoPass(t, body)
	}
	g := respGen{rand.New(rand.NewPCG(5, 6))}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		checkTwoPass(t, g.response())
	}
}

// FuzzDecodeV2ResponseTwoPass holds decodeV2Response to the two-pass
// decoder it replaced on arbitrary bodies.
func FuzzDecodeV2ResponseTwoPass(f *testing.F) {
	for _, body := range twoPassCorpus(f, false) {
		f.Add(body)
	}
	g := respGen{rand.New(rand.NewPCG(7, 8))}
	for range 200 {
		f.Add(g.response())
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkTwoPass(t, body)
	})
}

// respGen builds v2 responses that are nearly right, with now and then
// one thing wrong, so that the differential test reaches every rule of
// the decoders and not only their syntax errors.
type respGen struct{ r *rand.Rand }

func (g respGen) chance(p float64) bool { return g.r.Float64() < p }

func (g respGen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

func (g respGen) ws() string {
	if g.chance(0.85) {
		return ""
	}
	return g.pick(" ", "\n", "\t ", "\r\n  ")
}

// object writes members in random order, now and then one twice.
func (g respGen) object(members [][2]string) string {
	g.r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	if len(members) > 0 && g.chance(0.03) {
		members = append(members, members[g.r.IntN(len(members))])
	}
	var b strings.Builder
	b.WriteString("{" + g.ws())
	for i, m := range members {
		if i > 0 {
			b.WriteString("," + g.ws())
		}
		b.WriteString(m[0] + g.ws() + ":" + g.ws() + m[1])
	}
	b.WriteString(g.ws() + "}")
	return b.String()
}

func (g respGen) array(elems []string) string {
	return "[" + g.ws() + strings.Join(elems, ","+g.ws()) + g.ws() + "]"
}

// key quotes a member name, now and then with an escape.
func (g respGen) key(name string) string {
	if g.chance(0.05) && len(name) > 1 {
		i := g.r.IntN(len(name))
		return `"` + name[:i] + fmt.Sprintf(`\u%04x`, name[i]) + name[i+1:] + `"`
	}
	return `"` + name + `"`
}

// str is a JSON string, sometimes with escapes, non-ASCII or invalid
// UTF-8, which only the oip decoder rejects.
func (g respGen) str() string {
	switch g.r.IntN(10) {
	case 0:
		return g.pick(`"\/\b\f\n\r\t\"\\"`, `"\u0041\u00e9\uD83D\uDE00"`, `"\ud800"`, `"é"`, "\"\xff\"", `""`)
	case 1:
		return g.pick(`"outputs"`, `"]"`, `"[{"`, `"\"]"`, `"\\"`)
	}
	return strconv.Quote(g.pick("m", "model", "1", "p", "y", "probabilities", "x"))
}

// value is any JSON value, nested a little.
func (g respGen) value(depth int) string {
	switch n := g.r.IntN(10); {
	case n < 4 || depth > 2:
		return g.scalar()
	case n < 7:
		var ms [][2]string
		for range g.r.IntN(3) {
			ms = append(ms, [2]string{g.key(g.pick("a", "b", "outputs", "error")), g.value(depth + 1)})
		}
		return g.object(ms)
	default:
		var es []string
		for range g.r.IntN(4) {
			es = append(es, g.value(depth+1))
		}
		return g.array(es)
	}
}

func (g respGen) scalar() string {
	switch g.r.IntN(6) {
	case 0:
		return g.pick("null", "true", "false")
	case 1:
		return g.str()
	case 2:
		return g.pick("0", "-0", "1", "-1", "1.5", "1e2", "2.5E-3", "-0.0", "1e999", "123456789012345678901234567890")
	case 3:
		return g.pick("127", "128", "-129", "255", "65504", "65505", "4294967296", "9223372036854775808", "18446744073709551615", "18446744073709551616")
	case 4:
		return strconv.FormatFloat(g.r.NormFloat64(), 'g', -1, 32)
	}
	return strconv.Itoa(g.r.IntN(20) - 5)
}

var datatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}

// elem is one element of data of datatype dt, usually a valid one.
func (g respGen) elem(dt string) string {
	if g.chance(0.03) {
		return g.scalar()
	}
	switch dt {
	case "BOOL":
		return g.pick("true", "false")
	case "BYTES":
		return g.str()
	case "FP16", "FP32", "FP64":
		switch g.r.IntN(8) {
		case 0:
			return "null"
		case 1:
			return g.pick("0", "-0", "1e-46", "3.4028235e38", "65504", "1.7976931348623157e308", "4.9e-324", "0.1")
		case 2:
			return strconv.FormatFloat(g.r.NormFloat64()*1e6, 'g', -1, 64)
		}
		return strconv.FormatFloat(float64(float32(g.r.NormFloat64())), 'g', -1, 32)
	case "UINT8", "UINT16", "UINT32", "UINT64":
		return strconv.Itoa(g.r.IntN(300))
	}
	return strconv.Itoa(g.r.IntN(300) - 150)
}

// tensor is one output tensor object.
func (g respGen) tensor(name string) string {
	dt := g.pick(datatypes...)
	var shape []int
	for range g.r.IntN(3) + 1 {
		shape = append(shape, g.r.IntN(4))
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if g.chance(0.03) {
		n += g.pick2(1, -1)
	}
	var data string
	if len(shape) > 1 && g.chance(0.3) {
		data = g.nested(dt, shape)
	} else {
		var es []string
		for range max(n, 0) {
			es = append(es, g.elem(dt))
		}
		data = g.array(es)
	}
	var dims []string
	for _, d := range shape {
		dims = append(dims, strconv.Itoa(d))
	}
	ms := [][2]string{
		{g.key("name"), strconv.Quote(name)},
		{g.key("datatype"), `"` + dt + `"`},
		{g.key("shape"), g.array(dims)},
		{g.key("data"), data},
	}
	if g.chance(0.05) {
		ms = ms[:len(ms)-1-g.r.IntN(len(ms)-1)] // a member missing
	}
	if g.chance(0.3) {
		ms = append(ms, [2]string{g.key("parameters"), g.pick(`{"content_type":"np"}`, `{}`, `null`, `{"binary_data_size":4}`, `{"shared_memory_region":"r"}`, `{"a":1,"a":2}`, `{"a":1e999}`, `[]`, g.value(0))})
	}
	if g.chance(0.1) {
		ms = append(ms, [2]string{g.key(g.pick("x", "name", "parameters")), g.value(0)})
	}
	return g.object(ms)
}

func (g respGen) pick2(a, b int) int {
	if g.chance(0.5) {
		return a
	}
	return b
}

// nested writes data nested as shape.
func (g respGen) nested(dt string, shape []int) string {
	var es []string
	for range shape[0] {
		if len(shape) == 1 {
			es = append(es, g.elem(dt))
		} else {
			es = append(es, g.nested(dt, shape[1:]))
		}
	}
	return g.array(es)
}

// response is a whole response, then maybe damaged.
func (g respGen) response() []byte {
	var outs []string
	for i := range g.r.IntN(3) + 1 {
		name := g.pick("p", "y", "probabilities", fmt.Sprint("o", i))
		outs = append(outs, g.tensor(name))
	}
	if g.chance(0.02) {
		outs = nil
	}
	ms := [][2]string{{g.key("outputs"), g.array(outs)}}
	if g.chance(0.03) {
		ms[0][1] = g.pick("null", "{}", `"x"`, "1")
	}
	if g.chance(0.03) {
		ms = ms[:0]
	}
	for _, m := range []string{"model_name", "model_version", "id"} {
		if g.chance(0.6) {
			ms = append(ms, [2]string{g.key(m), g.str()})
		}
	}
	if g.chance(0.3) {
		ms = append(ms, [2]string{g.key("parameters"), g.value(0)})
	}
	if g.chance(0.1) {
		ms = append(ms, [2]string{g.key("error"), g.pick(g.str(), g.value(0))})
	}
	if g.chance(0.05) {
		ms = append(ms, [2]string{g.key(g.pick("outputs", "inputs", "x")), g.value(0)})
	}
	b := []byte(g.ws() + g.object(ms) + g.ws())
	if g.chance(0.25) {
		b = g.damage(b)
	}
	return b
}

// damage makes one small change to b, in the bytes that JSON's syntax
// turns on.
func (g respGen) damage(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	i := g.r.IntN(len(b))
	c := g.pick(`"`, `\`, "[", "]", "{", "}", ",", ":", " ", "1", "-", ".", "e", "x", "\x00", "\xff", "n")[0]
	switch g.r.IntN(4) {
	case 0:
		return append(b[:i:i], b[i+1:]...)
	case 1:
		return append(append(b[:i:i], c), b[i:]...)
	case 2:
		b[i] = c
		return b
	}
	return b[:i]
}
