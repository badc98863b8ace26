package oip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

// The byte-level fuzzer rarely builds a request that is valid JSON with
// the right members, so it seldom reaches the semantic checks. gen builds
// requests that are nearly right, with one or two things wrong, so that
// the differential test below exercises every rule of the protocol.

type gen struct{ r *rand.Rand }

func (g gen) chance(p float64) bool { return g.r.Float64() < p }

func (g gen) pick(options ...string) string { return options[g.r.IntN(len(options))] }

// ws returns random JSON whitespace, usually none.
func (g gen) ws() string {
	if g.chance(0.9) {
		return ""
	}
	return g.pick(" ", "\n", "\t ", "\r\n  ")
}

// object writes members in random order, sometimes repeating one.
func (g gen) object(members [][2]string) string {
	g.r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	if len(members) > 0 && g.chance(0.02) {
		members = append(members, members[g.r.IntN(len(members))])
	}
	var b strings.Builder
	b.WriteString("{" + g.ws())
	for i, m := range members {
		if i > 0 {
			b.WriteString("," + g.ws())
		}
		b.WriteString(strconv.Quote(m[0]) + g.ws() + ":" + g.ws() + m[1])
	}
	b.WriteString(g.ws() + "}")
	return b.String()
}

func (g gen) array(elems []string) string {
	return "[" + g.ws() + strings.Join(elems, ","+g.ws()) + g.ws() + "]"
}

// scalar is any JSON scalar, biased towards edge cases.
func (g gen) scalar() string {
	switch g.r.IntN(12) {
	case 0:
		return "null"
	case 1:
		return g.pick("true", "false")
	case 2:
		if g.chance(0.5) {
			return g.pick(`"\/\b\f\n\r\t\"\\"`, `"\u0041\u00e9\uD83D\uDE00"`, `"\ud800"`, `"\udc00\ud800x"`, `"\ud800\u0041"`, `"\uZZZZ"`, `"\x"`, "\"\xff\"", "\"\xed\xa0\x80\"", "\"a\x01\"")
		}
		return strconv.Quote(g.pick("", "a", "1.5", "é", "\x00", "FP32"))
	case 3:
		return g.pick("0", "-0", "1", "-1", "1.0", "1e2", "1E+2", "2.5e-3", "-0.0")
	case 4:
		return g.pick("127", "128", "-128", "-129", "255", "256", "32767", "32768", "-32769", "65535", "65536", "65504", "65505", "-65504.5")
	case 5:
		return g.pick("2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296")
	case 6:
		return g.pick("9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616", "-18446744073709551616")
	case 7:
		return g.pick("3.4028235e38", "3.4028236e38", "3.5e38", "-3.5e38", "1e-46", "1.7976931348623157e308", "1.8e308", "1e-400", "4.9e-324", "123456789012345678901234567890")
	case 8:
		return strconv.FormatFloat(g.r.NormFloat64()*1000, 'g', -1, 64)
	case 9:
		return strconv.FormatFloat(float64(float32(g.r.NormFloat64())), 'g', -1, 32)
	case 10:
		return strconv.Itoa(g.r.IntN(2000) - 1000)
	}
	return strconv.FormatFloat(g.r.Float64(), 'e', g.r.IntN(20), 64)
}

// value is any JSON value, nested a little.
func (g gen) value(depth int) string {
	if depth > 2 || g.chance(0.7) {
		return g.scalar()
	}
	n := g.r.IntN(3)
	if g.chance(0.5) {
		var elems []string
		for range n {
			elems = append(elems, g.value(depth+1))
		}
		return g.array(elems)
	}
	var members [][2]string
	for i := range n {
		members = append(members, [2]string{fmt.Sprintf("k%d", i), g.value(depth + 1)})
	}
	return g.object(members)
}

var genDatatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}

// element is a tensor element, usually valid for dt.
func (g gen) element(dt string) string {
	if g.chance(0.03) {
		return g.value(1)
	}
	switch dt {
	case "BOOL":
		return g.pick("true", "false")
	case "BYTES":
		if g.chance(0.1) {
			return g.pick(`"\/\b\f\n\r\t\"\\"`, `"\u0041\u00e9\uD83D\uDE00"`, `"\ud800"`, `"\udc00\ud800x"`)
		}
		return strconv.Quote(g.pick("", "a", "bc", "é", "\n", "x\"y"))
	case "FP16", "FP32", "FP64":
		if g.chance(0.05) {
			return "null"
		}
		if g.chance(0.5) {
			return g.scalar()
		}
		return strconv.FormatFloat(g.r.NormFloat64()*100, 'g', -1, 64)
	}
	if g.chance(0.3) {
		return g.scalar()
	}
	return strconv.Itoa(g.r.IntN(200))
}

// data writes n elements for shape, flat or nested, sometimes wrong.
func (g gen) data(dt string, shape []int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(shape) > 1 && g.chance(0.5) {
		var nest func(level int) string
		nest = func(level int) string {
			size := shape[level]
			if g.chance(0.02) {
				size += g.r.IntN(3) - 1
			}
			elems := make([]string, 0, max(size, 0))
			for range max(size, 0) {
				if level == len(shape)-1 {
					elems = append(elems, g.element(dt))
				} else {
					elems = append(elems, nest(level+1))
				}
			}
			return g.array(elems)
		}
		return nest(0)
	}
	if g.chance(0.03) {
		n += g.r.IntN(3) - 1
	}
	elems := make([]string, 0, max(n, 0))
	for range max(n, 0) {
		elems = append(elems, g.element(dt))
	}
	return g.array(elems)
}

// tensor is an input object, usually valid.
func (g gen) tensor(name string) string {
	dt := genDatatypes[g.r.IntN(len(genDatatypes))]
	rank := g.r.IntN(4)
	shape := make([]int, rank)
	dims := make([]string, rank)
	for i := range shape {
		shape[i] = g.r.IntN(4)
		dims[i] = strconv.Itoa(shape[i])
	}
	var members [][2]string
	add := func(k, v string, p float64) {
		if g.chance(p) {
			members = append(members, [2]string{k, v})
		}
	}
	nameV := strconv.Quote(name)
	if g.chance(0.02) {
		nameV = g.pick(`""`, "null", "1")
	}
	add("name", nameV, 0.98)
	dtV := strconv.Quote(dt)
	if g.chance(0.02) {
		dtV = g.pick(`"fp32"`, `"FLOAT"`, "null", "3")
	}
	add("datatype", dtV, 0.98)
	shapeV := g.array(dims)
	if g.chance(0.03) {
		shapeV = g.pick("[-1]", "[1.5]", `["2"]`, "null", "2", "[]", "[99999999999]", "[100000,100000,100000]")
	}
	add("shape", shapeV, 0.98)
	add("data", g.data(dt, shape), 0.98)
	if g.chance(0.1) {
		params := [][2]string{{"content_type", g.value(0)}}
		if g.chance(0.1) {
			params = append(params, [2]string{g.pick("binary_data_size", "shared_memory_region"), "4"})
		}
		add("parameters", g.object(params), 1)
	}
	add("extra", g.value(0), 0.05)
	return g.object(members)
}

// request is an inference request, usually valid.
func (g gen) request() string {
	var members [][2]string
	if g.chance(0.5) {
		members = append(members, [2]string{"id", g.pick(`"42"`, `""`, "null", "42")})
	}
	if g.chance(0.2) {
		members = append(members, [2]string{"parameters", g.pick(g.value(0), `{"a":1}`, `{"b":1e999}`)})
	}
	var inputs []string
	for i := range g.r.IntN(3) + 1 {
		inputs = append(inputs, g.tensor(g.pick(fmt.Sprint("in", i), fmt.Sprint("in", i), "in0")))
	}
	if g.chance(0.02) {
		inputs = nil
	}
	members = append(members, [2]string{"inputs", g.array(inputs)})
	if g.chance(0.2) {
		var outs []string
		for range g.r.IntN(3) {
			out := [][2]string{{"name", g.pick(`"out0"`, `"out1"`, `""`, "null")}}
			if g.chance(0.2) {
				out = append(out, [2]string{"parameters", g.pick(`{"binary_data":true}`, `{"shared_memory_region":"r"}`)})
			}
			outs = append(outs, g.object(out))
		}
		members = append(members, [2]string{"outputs", g.array(outs)})
	}
	if g.chance(0.1) {
		members = append(members, [2]string{"model_name", g.value(0)})
	}
	return g.object(members)
}

// instances is an instances body for fuzzSpec's features, usually valid.
func (g gen) instances(single bool) string {
	names := []string{"a", "b", "c"}
	if single {
		names = []string{"x"}
	}
	var rows []string
	for range g.r.IntN(4) {
		if g.chance(0.5) {
			var members [][2]string
			for _, n := range names {
				if g.chance(0.95) {
					members = append(members, [2]string{n, g.instanceValue()})
				}
			}
			if g.chance(0.03) {
				members = append(members, [2]string{g.pick("d", "aa", "A"), "1"})
			}
			rows = append(rows, g.object(members))
			continue
		}
		n := len(names)
		if g.chance(0.05) {
			n += g.r.IntN(3) - 1
		}
		var elems []string
		for range max(n, 0) {
			elems = append(elems, g.instanceValue())
		}
		if single && g.chance(0.3) && len(elems) == 1 {
			rows = append(rows, elems[0])
		} else {
			rows = append(rows, g.array(elems))
		}
	}
	key := "instances"
	if g.chance(0.2) {
		key = "inputs"
	}
	members := [][2]string{{key, g.array(rows)}}
	if g.chance(0.1) {
		members = append(members, [2]string{"signature_name", `"x"`})
	}
	return g.object(members)
}

func (g gen) instanceValue() string {
	if g.chance(0.2) {
		return g.scalar()
	}
	return strconv.FormatFloat(g.r.NormFloat64(), 'g', -1, 64)
}

// TestDifferentialGenerated holds the fast decoders to the reference ones
// on generated, nearly valid bodies.
func TestDifferentialGenerated(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(7, 8))}
	accepted := 0
	n := 6000
	if testing.Short() {
		n = 1000
	}
	for range n {
		body := []byte(g.request())
		lim := Limits{}
		if g.chance(0.1) {
			lim.MaxElements = g.r.IntN(20)
		}
		got, err := DecodeInferRequest(body, lim)
		want, wantErr := refDecodeInferRequest(body, lim, true)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeInferRequest(%s): error %v; reference decoder: %v", body, err, wantErr)
		}
		if err != nil {
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is a %T", err, err)
			}
			continue
		}
		accepted++
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("DecodeInferRequest(%s) differs from the reference (-ref +fast):\n%s", body, diff)
		}
		checkRoundTrip(t, got, lim)
	}
	t.Logf("%d of %d generated requests accepted", accepted, n)
	if accepted < n/10 || accepted > n*9/10 {
		t.Errorf("%d of %d generated requests accepted: the generator no longer mixes valid and invalid ones", accepted, n)
	}

	accepted = 0
	for range n {
		single, allowMissing := g.chance(0.3), g.chance(0.5)
		body := []byte(g.instances(single))
		spec := fuzzSpec(single, allowMissing)
		got, err := DecodeInstances(body, spec, Limits{MaxElements: 9})
		want, wantErr := refDecodeInstances(body, spec, Limits{MaxElements: 9}, true)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeInstances(%s, allowMissing %v): error %v; reference decoder: %v", body, allowMissing, err, wantErr)
		}
		if err != nil {
			continue
		}
		accepted++
		if diff := cmp.Diff(want, got, cmpTensors...); diff != "" {
			t.Fatalf("DecodeInstances(%s) differs from the reference (-ref +fast):\n%s", body, diff)
		}
	}
	t.Logf("%d of %d generated instance bodies accepted", accepted, n)
}
