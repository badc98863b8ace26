package oip

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
)

// checkDecodeTensors holds DecodeTensors, on an array of tensors, to what
// DecodeInferRequest makes of the same array as a request's "inputs".
// The array is wrapped as {"output":ARRAY} (plus tail, after the array),
// whose head is as long as {"inputs":, so that the two decoders agree on
// offsets too; their errors are the same but for the array's name.
func checkDecodeTensors(t *testing.T, array, tail string, lim Limits) (ok bool) {
	t.Helper()
	req := []byte(`{"inputs":` + array + `}`)
	body := []byte(`{"output":` + array + tail)
	want, wantErr := DecodeInferRequest(req, lim)
	got, end, err := DecodeTensors(body, len(`{"output":`), "outputs", lim)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s:\nDecodeTensors: %v\nDecodeInferRequest: %v", array, err, wantErr)
	}
	if err != nil {
		var ie *inference.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: error %v is a %T", array, err, err)
		}
		if w := strings.ReplaceAll(wantErr.Error(), "inputs", "outputs"); err.Error() != w {
			t.Fatalf("%s:\nDecodeTensors: %v\nwant %v", array, err, w)
		}
		return false
	}
	if want := len(`{"output":`) + len(strings.TrimRight(array, " \t\r\n")); end != want {
		t.Fatalf("%s: ends at %d, want %d", array, end, want)
	}
	// The result does not alias body.
	for i := range body {
		body[i] = 'x'
	}
	if diff := cmp.Diff(want.Inputs, got, cmpTensors...); diff != "" {
		t.Fatalf("%s: DecodeTensors differs from DecodeInferRequest (-request +tensors):\n%s", array, diff)
	}
	return true
}

func TestDecodeTensors(t *testing.T) {
	const tensor = `{"name":"y","datatype":"FP32","shape":[1],"data":[1]}`
	for _, array := range []string{
		`[` + tensor + `]`,
		` [ ` + tensor + ` , {"name":"z","datatype":"INT8","shape":[2,1],"data":[[1],[-2]],"parameters":{"content_type":"np"}} ] `,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"binary_data_size":4}}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"shared_memory_region":"r"}}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"a":1,"a":2}}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":{"a":{"b":1e999}}}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"parameters":[]}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"x":` + strings.Repeat("[", maxDepth-3) + strings.Repeat("]", maxDepth-3) + `}]`,
		`[{"name":"y","datatype":"FP32","shape":[1],"data":[1],"x":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}]`,
		`[` + tensor + `,` + tensor + `]`,
		`[{"name":"y","datatype":"FP32","shape":[3],"data":[1,2]}]`,
		`[{"name":"y","datatype":"FP32","shape":[100],"data":[1]}]`,
		`[1]`, `[]`, `[` + tensor, `[` + tensor + `,]`, `[{"name":"\xff"}]`,
	} {
		checkDecodeTensors(t, array, `}`, Limits{MaxElements: 50})
	}

	for _, tc := range []struct {
		body string
		at   int
		want string
	}{
		{`{"outputs":{}}`, 11, "outputs: expected an array of tensors, got an object"},
		{`{"outputs":  null}`, 11, "outputs: expected an array of tensors, got null"},
		{`{"outputs":[{"name":}`, 11, "unexpected '}', expected a value at offset 20"},
		{`[]`, 3, "DecodeTensors at offset 3 of a 2-byte body"},
		{`[]`, -1, "DecodeTensors at offset -1"},
	} {
		_, _, err := DecodeTensors([]byte(tc.body), tc.at, "outputs", Limits{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeTensors(%s, %d) = %v, want an error containing %q", tc.body, tc.at, err, tc.want)
		}
	}
}

func TestDecodeTensorsGenerated(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(9, 10))}
	n, accepted := 6000, 0
	if testing.Short() {
		n = 1000
	}
	for range n {
		var ts []string
		for i := range g.r.IntN(3) + 1 {
			ts = append(ts, g.tensor(g.pick(fmt.Sprint("out", i), "out0")))
		}
		lim := Limits{}
		if g.chance(0.1) {
			lim.MaxElements = g.r.IntN(20)
		}
		tail := g.pick(`}`, `,"id":"1"}`, ` ]`, ``)
		if checkDecodeTensors(t, g.array(ts), tail, lim) {
			accepted++
		}
	}
	t.Logf("%d of %d generated arrays accepted", accepted, n)
}

// TestTensorBlocks checks that every block newTensorBlock hands out fills
// one of the allocator's size classes, with room for the first tensor
// and an arena as long as rest when one fits.
func TestTensorBlocks(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("blocks are sized for the allocator's classes on 64-bit platforms")
	}
	classes := []int{224, 240, 256, 288, 320, 384, 512}
	for rest := 0; rest <= 600; rest++ {
		first, mem := newTensorBlock(rest)
		size := tensorSize + 8*len(mem)
		if len(first) != 0 || cap(first) != 1 || !slices.Contains(classes, size) {
			t.Fatalf("newTensorBlock(%d): %d tensors of room, %d bytes", rest, cap(first), size)
		}
		if want := min(tensorSize+rest, 512); size < want {
			t.Errorf("newTensorBlock(%d) takes %d bytes, want %d or more", rest, size, want)
		}
		if uintptr(unsafe.Pointer(&mem[0]))-uintptr(unsafe.Pointer(&first[:1][0])) != uintptr(tensorSize) {
			t.Errorf("newTensorBlock(%d): the arena does not follow the tensor", rest)
		}
	}
}

// TestDecodeTensorsAllocs checks that a small answer's outputs take one
// allocation.
func TestDecodeTensorsAllocs(t *testing.T) {
	for _, body := range []string{
		`{"model_name":"m","model_version":"1","outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[0.42]}]}`,
		`{"model_name":"m","id":"1","outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,2],"data":[0.25,0.75]}]}`,
		`{"outputs":[{"name":"label","datatype":"INT64","shape":[8],"data":[1,0,2,1,0,0,1,2]}]}`,
		`{"outputs":[{"name":"predict","shape":[1,1],"datatype":"INT64","parameters":{"content_type":"np"},"data":[2]}]}`,
		`{"outputs":[{"name":"b","shape":[3],"datatype":"BOOL","data":[true,false,true]}]}`,
	} {
		b := []byte(body)
		at := bytes.IndexByte(b, '[')
		if _, _, err := DecodeTensors(b, at, "outputs", Limits{}); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if allocs := testing.AllocsPerRun(20, func() { DecodeTensors(b, at, "outputs", Limits{}) }); allocs != 1 {
			t.Errorf("%s: %v allocations, want 1", body, allocs)
		}
	}
}
