package drift

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
)

// FuzzParseBaseline feeds arbitrary JSON to the baseline decoder. What it
// accepts must make a working window and survive a JSON round trip.
func FuzzParseBaseline(f *testing.F) {
	golden, err := os.ReadFile("testdata/baseline.golden")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"version":1,"rows":0,"features":[{"name":"x","kind":"numeric","count":0,"missing":0,"numeric":{"min":0,"max":0,"deciles":[],"edges":[],"counts":[0]}}]}`))
	f.Add([]byte(`{"version":1,"rows":2,"features":[{"name":"c","kind":"categorical","count":2,"missing":0,"categorical":{"categories":[{"label":"a","count":2}],"other":0}}]}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBaseline(data)
		if err != nil {
			return
		}
		w, err := NewWindow(b, WindowOptions{Rows: 10})
		if err != nil {
			t.Fatalf("a valid baseline makes no window: %v", err)
		}
		vals := make([]float64, len(b.Features))
		for i := range vals {
			vals[i] = float64(i) - 1
		}
		w.Observe(time.Unix(0, 0), Row{Values: vals, Prediction: 0.5})
		r := w.Report(time.Unix(0, 0))
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseBaseline(again); err != nil {
			t.Fatalf("re-encoded baseline rejected: %v", err)
		}
	})
}

// FuzzKS2Samp checks that any two samples give a statistic and a p-value
// in [0, 1] without panicking (the exact methods index sliding bands).
func FuzzKS2Samp(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(1))
	f.Add(make([]byte, 64), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var xs []float64
		for len(data) >= 2 {
			// Small integers, so ties are common.
			xs = append(xs, float64(int16(binary.LittleEndian.Uint16(data)))/64)
			data = data[2:]
		}
		k := int(split)
		if k == 0 || k >= len(xs) {
			return
		}
		r, err := KS2Samp(xs[:k], xs[k:])
		if err != nil {
			t.Fatal(err)
		}
		if !(r.Statistic >= 0 && r.Statistic <= 1) || !(r.PValue >= 0 && r.PValue <= 1) || math.IsNaN(r.PValue) {
			t.Fatalf("KS2Samp = %+v", r)
		}
	})
}
