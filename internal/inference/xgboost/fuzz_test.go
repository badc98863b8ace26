package xgboost

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// modelFiles lists the real models the tests use: the examples and every
// model gen.py wrote.
func modelFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{examplesDir + "/*.json", "testdata/*.json", "testdata/*.ubj"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".expected.json") {
				files = append(files, f)
			}
		}
	}
	return files
}

// FuzzLoad checks that Load never panics or hangs, that every failure wraps
// inference.ErrInvalidModel, and that a model that loads predicts without
// error on rows of zeros, NaNs and extreme values.
func FuzzLoad(f *testing.F) {
	for _, path := range modelFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(tinyModel))
	for _, b := range badArtifacts(f) {
		f.Add(b.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Format{}.Load(context.Background(), data, inference.LoadOptions{Threads: 2})
		if err != nil {
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Fatalf("Load error %v does not wrap ErrInvalidModel", err)
			}
			return
		}
		b := m.(*Booster)
		specials := []float32{0, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -1, 3, 1e30, -0.5}
		rows := len(specials)
		x := make([]float32, rows*b.nFeature)
		for r, v := range specials {
			for j := range b.nFeature {
				x[r*b.nFeature+j] = v
			}
		}
		out, err := m.Predict(context.Background(), []inference.Tensor{{
			Name: b.inName, Datatype: inference.FP32, Shape: []int64{int64(rows), int64(b.nFeature)}, F32: x,
		}})
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
		if got, want := len(out[0].F32), rows*b.outCols; got != want {
			t.Fatalf("Predict returned %d values, want %d", got, want)
		}
		// Explain either works on the same rows or refuses the model.
		e, err := b.Explain(context.Background(), []inference.Tensor{{
			Name: b.inName, Datatype: inference.FP32, Shape: []int64{int64(rows), int64(b.nFeature)}, F32: x,
		}})
		switch {
		case errors.Is(err, inference.ErrNotExplainable):
		case err != nil:
			t.Fatalf("Explain: %v", err)
		case len(e.Values) != rows*b.nOut*(b.nFeature+1):
			t.Fatalf("Explain returned %d values, want %d", len(e.Values), rows*b.nOut*(b.nFeature+1))
		}
	})
}

// FuzzPredict feeds arbitrary feature values (NaN, infinities, negative
// zero, denormals) to real models and checks that batch and row-by-row
// predictions agree and stay in the objective's range.
func FuzzPredict(f *testing.F) {
	var models []*Booster
	for _, name := range []string{"breast_cancer", "diabetes"} {
		data, err := os.ReadFile(filepath.Join(examplesDir, name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		models = append(models, mustLoad(f, data, inference.LoadOptions{}))
	}
	for _, name := range []string{"categorical", "iris_softprob", "gblinear_softprob", "dart", "deep"} {
		models = append(models, mustLoad(f, readFixture(f, "testdata", name).model, inference.LoadOptions{}))
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(2), []byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f, 0, 0, 0x80, 0xff, 0, 0, 0, 0x80})
	f.Add(uint8(3), []byte{0, 0, 0x40, 0x40, 1, 0, 0, 0, 0xff, 0xff, 0x7f, 0x7f})
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		b := models[int(which)%len(models)]
		F := b.nFeature
		rows := min(len(raw)/4/F+1, 300)
		x := make([]float32, rows*F)
		for i := range x {
			if k := 4 * i; k+4 <= len(raw) {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[k:]))
			}
		}
		batch := predictFlat(t, b, x, rows)
		for r := range rows {
			one := predictFlat(t, b, x[r*F:(r+1)*F], 1)
			for j, v := range one {
				got := batch[r*b.outCols+j]
				if got != v && !(got != got && v != v) {
					t.Fatalf("row %d value %d: batch %v, alone %v", r, j, got, v)
				}
			}
		}
		for i, v := range batch {
			switch b.obj.out {
			case outSigmoid, outSoftprob:
				if v < 0 || v > 1 {
					t.Fatalf("value %d = %v, want a probability", i, v)
				}
			case outSoftmax:
				if v != float32(int(v)) || int(v) >= b.nOut {
					t.Fatalf("value %d = %v, want a class index", i, v)
				}
			}
		}
	})
}

func predictFlat(t *testing.T, b *Booster, x []float32, rows int) []float32 {
	t.Helper()
	out, err := b.Predict(context.Background(), []inference.Tensor{{
		Name: b.inName, Datatype: inference.FP32, Shape: []int64{int64(rows), int64(b.nFeature)}, F32: x,
	}})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	return out[0].F32
}
