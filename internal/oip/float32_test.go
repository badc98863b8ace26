package oip

import (
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refAppendFloat32 is how float32s were written before appendFloat32:
// through strconv, which appendFloat32 must match byte for byte.
func refAppendFloat32(dst []byte, x float32) []byte {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if float32(abs) < 1e-6 || float32(abs) >= 1e21 {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 32)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// checkFloat32 fails unless appendFloat32 writes the float32 of bits u
// as refAppendFloat32 does. got and want are scratch buffers.
func checkFloat32(t testing.TB, u uint32, got, want []byte) ([]byte, []byte) {
	x := math.Float32frombits(u)
	got = appendFloat32(append(got[:0], 'x'), x)
	want = refAppendFloat32(append(want[:0], 'x'), x)
	if string(got) != string(want) {
		t.Helper()
		t.Fatalf("appendFloat32(%v) (bits %#08x) = %s, want %s", x, u, got[1:], want[1:])
	}
	return got, want
}

func TestAppendFloat32MatchesStrconv(t *testing.T) {
	tests := []struct {
		name string
		// each calls check with the bits of its float32s; the test
		// checks their negations too.
		each func(check func(uint32))
	}{
		{"special", func(check func(uint32)) {
			for _, x := range []float32{0, float32(math.NaN()), float32(math.Inf(1)), math.MaxFloat32,
				math.SmallestNonzeroFloat32, 0x1p-126, 0x1p-12, 1e-6, 1e21, 0.1, 0.5, 0.73120874,
				1234.5677, 16777216, 16777217, 1e-7, 1, 3, 100, 123456789} {
				check(math.Float32bits(x))
			}
			check(0x7fc00001) // a NaN with payload
		}},
		{"subnormals", func(check func(uint32)) {
			for u := uint32(0); u < 1<<23; u += 13 {
				check(u)
			}
			for u := uint32(1<<23 - 1000); u < 1<<23+1000; u++ {
				check(u)
			}
		}},
		{"powers of two and their neighbours", func(check func(uint32)) {
			for be := uint32(0); be < 255; be++ {
				for _, f := range []uint32{0, 1, 2, 3, 1<<23 - 1, 1<<23 - 2} {
					check(be<<23 | f)
				}
			}
		}},
		{"powers of ten and their neighbours", func(check func(uint32)) {
			for e := -45; e <= 38; e++ {
				u := math.Float32bits(float32(math.Pow(10, float64(e))))
				for v := u - 100; v <= u+100; v++ {
					check(v)
				}
			}
		}},
		{"around the ends of the fixed form", func(check func(uint32)) {
			for _, x := range []float32{1e-6, 1e21, 1e-5, 1e20} {
				u := math.Float32bits(x)
				for v := u - 10000; v <= u+10000; v++ {
					check(v)
				}
			}
		}},
		{"integers", func(check func(uint32)) {
			for i := 0; i <= 1<<25; i += 7 {
				check(math.Float32bits(float32(i)))
			}
			for _, x := range []float32{1 << 30, 1<<30 + 128, 4e9, 1e10, 123456789012} {
				check(math.Float32bits(x))
			}
		}},
		{"values of models", func(check func(uint32)) {
			r := rand.New(rand.NewPCG(1, 2))
			for range 300_000 {
				check(math.Float32bits(float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))))
				check(math.Float32bits(float32(r.Float64())))
			}
		}},
		{"every 1021st float32", func(check func(uint32)) {
			// 1021 is prime: the sample steps through fractions and
			// exponents alike.
			for u := uint64(0); u < 1<<31; u += 1021 {
				check(uint32(u))
			}
		}},
		{"random bits", func(check func(uint32)) {
			r := rand.New(rand.NewPCG(3, 4))
			for range 1_000_000 {
				check(r.Uint32())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want []byte
			tt.each(func(u uint32) {
				got, want = checkFloat32(t, u, got, want)
				got, want = checkFloat32(t, u^1<<31, got, want)
			})
		})
	}
}

// TestShortest32Tie holds shortest32 to the rule it follows, with exact
// arithmetic, where strconv does not: 2^-12 is 0.000244140625, halfway
// between two 8-digit decimals that read back as it, and the even one is
// 0.00024414062.
func TestShortest32Tie(t *testing.T) {
	u := math.Float32bits(0x1p-12)
	d, k := shortest32(u&(1<<23-1), int(u>>23))
	if d != 24414062 || k != -11 {
		t.Errorf("shortest32(2^-12) = %d×10^%d, want 24414062×10^-11", d, k)
	}
	exact := new(big.Rat).SetFrac64(1, 1<<12)
	for _, s := range []string{"0.00024414062", "0.00024414063"} {
		r, _ := new(big.Rat).SetString(s)
		diff := new(big.Rat).Sub(r, exact)
		if diff.Abs(diff).Cmp(big.NewRat(5, 1e12)) != 0 {
			t.Errorf("%s is not 5e-12 from 2^-12", s)
		}
		if f, err := strconv.ParseFloat(s, 32); err != nil || float32(f) != 0x1p-12 {
			t.Errorf("%s reads back as %v, %v", s, f, err)
		}
	}
}

// TestAppendFloat32Exhaustive compares appendFloat32 with strconv on
// every float32. It takes minutes, so it runs only when
// SLUICE_EXHAUSTIVE=1.
func TestAppendFloat32Exhaustive(t *testing.T) {
	if os.Getenv("SLUICE_EXHAUSTIVE") != "1" {
		t.Skip("set SLUICE_EXHAUSTIVE=1 to check all 2^32 float32s")
	}
	start := time.Now()
	var next atomic.Uint64 // the next block of 2^20 bit patterns to check
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var got, want []byte
			for !failed.Load() {
				block := next.Add(1) - 1
				if block >= 1<<12 {
					return
				}
				for u := uint32(block << 20); u < uint32(block<<20)+1<<20; u++ {
					x := math.Float32frombits(u)
					got = appendFloat32(got[:0], x)
					want = refAppendFloat32(want[:0], x)
					if string(got) != string(want) {
						failed.Store(true)
						t.Errorf("appendFloat32(%v) (bits %#08x) = %s, want %s", x, u, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("checked all float32s in %v", time.Since(start).Round(time.Second))
}

// FuzzAppendFloat32 compares appendFloat32 with strconv.
func FuzzAppendFloat32(f *testing.F) {
	for _, x := range []float32{0, 0.73120874, 1234.5677, math.MaxFloat32, 1e-7, 42, -0.5, 0x1p-12, math.SmallestNonzeroFloat32} {
		f.Add(math.Float32bits(x))
	}
	f.Fuzz(func(t *testing.T, u uint32) {
		checkFloat32(t, u, nil, nil)
	})
}

// float32Sets are float32s as models give and take them: normal values
// of scales from 0.01 to 1000, probabilities, small integers, and the
// three mixed in random order.
func float32Sets() []struct {
	name string
	xs   []float32
} {
	r := rand.New(rand.NewPCG(5, 6))
	kinds := []func() float32{
		func() float32 { return float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(6)-2))) },
		func() float32 { return float32(r.Float64()) },
		func() float32 { return float32(r.IntN(2000) - 1000) },
	}
	gen := func(kind func() float32) []float32 {
		xs := make([]float32, 4096)
		for i := range xs {
			if kind != nil {
				xs[i] = kind()
			} else {
				xs[i] = kinds[r.IntN(len(kinds))]()
			}
		}
		return xs
	}
	return []struct {
		name string
		xs   []float32
	}{
		{"normal", gen(kinds[0])},
		{"probability", gen(kinds[1])},
		{"integer", gen(kinds[2])},
		{"mixed", gen(nil)},
	}
}

func BenchmarkAppendFloat32(b *testing.B) {
	for _, set := range float32Sets() {
		for _, impl := range []struct {
			name string
			fn   func([]byte, float32) []byte
		}{{"fast", appendFloat32}, {"strconv", refAppendFloat32}} {
			b.Run(set.name+"/"+impl.name, func(b *testing.B) {
				buf := make([]byte, 0, 64)
				for b.Loop() {
					for _, x := range set.xs {
						buf = impl.fn(buf[:0], x)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(set.xs)), "ns/value")
			})
		}
	}
}
