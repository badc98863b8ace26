package predlog

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// appendJSONSpec is AppendJSON as the line format says it, written with
// the standard library and appendStringByRune, to check AppendJSON
// against.
func appendJSONSpec(b []byte, r *Record) []byte {
	b = append(b, `{"id":`...)
	b = appendStringByRune(b, r.RequestID)
	b = append(b, `,"time":`...)
	if u := r.Time.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		b = append(b, '"')
		b = u.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"endpoint":`...)
	b = appendStringByRune(b, r.Endpoint)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	if r.Role != "" {
		b = append(b, `,"role":`...)
		b = appendStringByRune(b, r.Role)
	}
	b = append(b, `,"latency_ns":`...)
	b = strconv.AppendInt(b, r.LatencyNS, 10)
	for _, f := range []struct {
		name string
		vs   []Value
	}{{"inputs", r.Inputs}, {"outputs", r.Outputs}} {
		if len(f.vs) == 0 {
			continue
		}
		b = append(b, `,"`+f.name+`":[`...)
		for i, v := range f.vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendStringByRune(b, v.Name)
			if v.Datatype != "" {
				b = append(b, `,"datatype":`...)
				b = appendStringByRune(b, v.Datatype)
			}
			if len(v.Shape) > 0 {
				b = append(b, `,"shape":[`...)
				for j, d := range v.Shape {
					if j > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendInt(b, d, 10)
				}
				b = append(b, ']')
			}
			if len(v.Num) > 0 {
				b = append(b, `,"num":[`...)
				single := v.Datatype == "FP32" || v.Datatype == "FP16"
				for j, x := range v.Num {
					if j > 0 {
						b = append(b, ',')
					}
					switch {
					case single && float64(float32(x)) == x && !math.IsInf(x, 0):
						// A float32, as encoding/json writes one.
						m, err := json.Marshal(float32(x))
						if err != nil {
							panic(err)
						}
						b = append(b, m...)
					case math.IsNaN(x):
						b = append(b, `"NaN"`...)
					case math.IsInf(x, 1):
						b = append(b, `"Infinity"`...)
					case math.IsInf(x, -1):
						b = append(b, `"-Infinity"`...)
					default:
						b = strconv.AppendFloat(b, x, 'g', -1, 64)
					}
				}
				b = append(b, ']')
			}
			if len(v.Str) > 0 {
				b = append(b, `,"str":[`...)
				for j, s := range v.Str {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendStringByRune(b, s)
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendStringByRune(b, r.Error)
	}
	return append(b, '}')
}

// checkAppendJSON fails unless AppendJSON writes r as appendJSONSpec
// does, onto an empty buffer and after other bytes.
func checkAppendJSON(t *testing.T, r *Record) {
	t.Helper()
	want := string(appendJSONSpec([]byte("x"), r))
	if got := string(AppendJSON([]byte("x"), r)); got != want {
		t.Fatalf("AppendJSON(%#v)\n got %s\nwant %s", r, got, want)
	}
	if got := string(AppendJSON(nil, r)); got != want[1:] {
		t.Fatalf("AppendJSON(nil, %#v)\n got %s\nwant %s", r, got, want[1:])
	}
}

// randomRecord returns a record with fields of every kind AppendJSON
// treats apart: empty and odd strings, times outside RFC 3339's years,
// numbers of every magnitude and the special ones.
func randomRecord(rng *rand.Rand) Record {
	str := func() string {
		const alphabet = "abcdefghijklmnopqrstuvwxyz-_ 0123456789\"\\\n\r\t\x00\x1f\x7f"
		b := make([]byte, []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 30}[rng.IntN(10)])
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte('a' + rng.IntN(26))
			}
		}
		s := string(b)
		switch rng.IntN(12) {
		case 0:
			s += "é"
		case 1:
			s += "\u2028"
		case 2:
			s += "\xff"
		case 3:
			s = "日本" + s
		}
		return s
	}
	tm := time.Unix(rng.Int64N(4_200_000_000), rng.Int64N(1e9))
	switch rng.IntN(8) {
	case 0:
		tm = time.Unix(rng.Int64N(700_000_000_000)-350_000_000_000, rng.Int64N(1e9)) // years -9000 to 13000
	case 1:
		tm = time.Unix(tm.Unix(), 0)
	case 2:
		tm = time.Unix(tm.Unix(), rng.Int64N(1e6)*1000)
	case 3:
		tm = tm.In(time.FixedZone("east", 5*3600+30*60))
	case 4:
		tm = time.Time{}
	case 5:
		tm = time.Now()
	}
	num := func() float64 {
		switch rng.IntN(10) {
		case 0:
			return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e21, math.MaxFloat64}[rng.IntN(7)]
		case 1:
			return float64(rng.IntN(2_000_000) - 1_000_000)
		case 2:
			return math.Float64frombits(rng.Uint64())
		case 3:
			return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		default:
			return float64(float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6))))
		}
	}
	values := func() []Value {
		var vs []Value
		for range rng.IntN(4) {
			v := Value{Name: str()}
			if rng.IntN(2) == 0 {
				v.Datatype = []string{"FP32", "FP64", "INT64", "BYTES", "BOOL", str()}[rng.IntN(6)]
				for range rng.IntN(4) {
					v.Shape = append(v.Shape, []int64{0, 1, 8, 1 << 40, -1, math.MinInt64}[rng.IntN(6)])
				}
			}
			for range rng.IntN(12) {
				v.Num = append(v.Num, num())
			}
			if rng.IntN(3) == 0 {
				for range rng.IntN(4) {
					v.Str = append(v.Str, str())
				}
			}
			vs = append(vs, v)
		}
		return vs
	}
	r := Record{
		RequestID: str(), Time: tm, Endpoint: str(), Version: rng.IntN(100) - 1, Role: str(),
		Inputs: values(), Outputs: values(), LatencyNS: rng.Int64N(1e10) - 1, Error: str(),
	}
	if rng.IntN(10) == 0 {
		r.Version, r.LatencyNS = math.MinInt, math.MaxInt64
	}
	return r
}

func TestAppendJSONMatchesSpec(t *testing.T) {
	r := sampleRecord()
	checkAppendJSON(t, &r)
	checkAppendJSON(t, &Record{})
	b := benchRecord()
	checkAppendJSON(t, &b)
	rng := rand.New(rand.NewPCG(13, 14))
	for range 20000 {
		r := randomRecord(rng)
		checkAppendJSON(t, &r)
	}
}

// FuzzAppendJSON checks AppendJSON against appendJSONSpec on records
// made of the fuzzer's strings, time and numbers.
func FuzzAppendJSON(f *testing.F) {
	f.Add("r-1", "fraud", "input-0", "FP32", int64(1_772_600_767), int64(890123456), math.Float64bits(0.42), int64(81200))
	f.Add("\u2028\"\\\x00\xff", "", "日本語", "", int64(-62_135_596_800), int64(0), math.Float64bits(math.NaN()), int64(-1))
	f.Add("0123456789abcdef", "e", "12345678", "x\ty", int64(253_402_300_799), int64(999_999_999), math.Float64bits(1e-4), int64(1<<62))
	f.Fuzz(func(t *testing.T, id, endpoint, name, datatype string, sec, nsec int64, bits uint64, latency int64) {
		x := math.Float64frombits(bits)
		r := Record{
			RequestID: id, Time: time.Unix(sec, nsec), Endpoint: endpoint, Version: int(latency % 1000), Role: datatype,
			Inputs:    []Value{{Name: name, Datatype: datatype, Shape: []int64{1, latency}, Num: []float64{x, float64(float32(x)), -x}}},
			Outputs:   []Value{{Name: name, Str: []string{id, endpoint}}},
			LatencyNS: latency, Error: name,
		}
		if !utf8.ValidString(id) && len(id) > 0 {
			r.Inputs[0].Str = []string{id[1:]}
		}
		checkAppendJSON(t, &r)
	})
}
