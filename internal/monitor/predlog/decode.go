package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// DecodeLine parses one record written by AppendJSON. Surrounding white
// space is allowed; anything but one JSON object is an error. Fields this
// version does not know are ignored, so that older readers can read logs
// written by newer servers.
func DecodeLine(line []byte) (Record, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Record{}, errors.New("empty line")
	}
	if line[0] != '{' {
		return Record{}, fmt.Errorf("not a JSON object: starts with %q", line[0])
	}
	var w wireRecord
	if err := json.Unmarshal(line, &w); err != nil {
		return Record{}, err
	}
	return Record{
		RequestID: w.ID,
		Time:      w.Time,
		Endpoint:  w.Endpoint,
		Version:   w.Version,
		Role:      w.Role,
		Inputs:    w.Inputs.values(),
		Outputs:   w.Outputs.values(),
		LatencyNS: w.LatencyNS,
		Error:     w.Error,
	}, nil
}

// wireRecord is the JSON shape AppendJSON writes.
type wireRecord struct {
	ID        string     `json:"id"`
	Time      time.Time  `json:"time"`
	Endpoint  string     `json:"endpoint"`
	Version   int        `json:"version"`
	Role      string     `json:"role"`
	LatencyNS int64      `json:"latency_ns"`
	Inputs    wireValues `json:"inputs"`
	Outputs   wireValues `json:"outputs"`
	Error     string     `json:"error"`
}

type wireValues []wireValue

type wireValue struct {
	Name     string      `json:"name"`
	Datatype string      `json:"datatype"`
	Shape    []int64     `json:"shape"`
	Num      []wireFloat `json:"num"`
	Str      []string    `json:"str"`
}

func (ws wireValues) values() []Value {
	if len(ws) == 0 {
		return nil
	}
	out := make([]Value, len(ws))
	for i, w := range ws {
		v := Value{Name: w.Name, Datatype: w.Datatype, Shape: w.Shape, Str: w.Str}
		if len(w.Num) > 0 {
			v.Num = make([]float64, len(w.Num))
			single := w.Datatype == "FP32" || w.Datatype == "FP16"
			for j, x := range w.Num {
				v.Num[j] = float64(x)
				if single {
					// Back to the float32 the element was: "0.1" is
					// float32(0.1), as the tensor held it.
					v.Num[j] = float64(float32(x))
				}
			}
		}
		out[i] = v
	}
	return out
}

// wireFloat is a JSON number, or one of the strings "NaN", "Infinity" and
// "-Infinity"; null reads as NaN (a missing value).
type wireFloat float64

func (f *wireFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null", `"NaN"`:
		*f = wireFloat(math.NaN())
		return nil
	case `"Infinity"`:
		*f = wireFloat(math.Inf(1))
		return nil
	case `"-Infinity"`:
		*f = wireFloat(math.Inf(-1))
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return fmt.Errorf("num: want a number, \"NaN\", \"Infinity\" or \"-Infinity\", got %.40s", b)
	}
	*f = wireFloat(x)
	return nil
}
