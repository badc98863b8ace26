package predlog

import (
	"unsafe"

	"github.com/sluicehq/sluice/internal/inference"
)

// FromTensors converts a request's or response's tensors into Values,
// copying their elements, so the record does not share memory with
// buffers the caller may reuse. When tabular is not nil and names the
// features of an [N, F] input, that tensor becomes F named features of N
// values each, so that they can be redacted and filtered by name; other
// tensors keep their name, datatype and shape.
func FromTensors(ts []inference.Tensor, tabular *inference.TensorSpec) []Value {
	in, _ := FromCall(ts, tabular, nil)
	return in
}

// FromCall is FromTensors of a call's inputs and of its outputs (with no
// tabular spec), in one allocation however many tensors there are when
// their Values, shapes and numbers take at most 512 bytes, as those of a
// few small tensors do, and in two otherwise (and one more for each BYTES
// tensor). The Values share one array, and the shapes and the numbers
// another, cut so that no Value can grow into another's.
func FromCall(inputs []inference.Tensor, tabular *inference.TensorSpec, outputs []inference.Tensor) (in, out []Value) {
	c := measure(inputs, tabular, outputs)
	if c.vals == 0 {
		return nil, nil
	}
	var (
		vals  []Value
		words []float64
	)
	if c.vals <= len(blocks) {
		for _, b := range blocks[c.vals-1] {
			if c.words <= b.words {
				vals, words = b.alloc()
				break
			}
		}
	}
	if vals == nil {
		vals = make([]Value, c.vals)
		if c.words > 0 {
			words = make([]float64, c.words)
		}
	}
	if c.words == 0 {
		words = nil // so that the features of an empty tabular tensor have a nil Num
	}
	return c.fill(vals[:c.vals], words[:c.words], inputs, tabular, outputs)
}

// block holds a call's Values (V is an array of Value) and their shapes
// and numbers (W is an array of float64), allocated together.
type block[V, W any] struct {
	vals  V
	words W
}

// newBlock allocates a block and returns its arrays.
func newBlock[V, W any]() ([]Value, []float64) {
	b := new(block[V, W])
	return unsafe.Slice((*Value)(unsafe.Pointer(&b.vals)), unsafe.Sizeof(b.vals)/unsafe.Sizeof(Value{})),
		unsafe.Slice((*float64)(unsafe.Pointer(&b.words)), unsafe.Sizeof(b.words)/unsafe.Sizeof(float64(0)))
}

// blocks[n-1] are the blocks of n Values, by size: one for each of the
// allocator's size classes up to 512 bytes, with room for as many numbers
// as fill it (a Value takes 104 bytes), so that a block wastes less than
// the step to the next class. Above 512 bytes an object costs the
// allocator a header, and a record that large costs far more to encode
// than an allocation.
var blocks = [...][]struct {
	words int
	alloc func() ([]Value, []float64)
}{
	{ // 1 Value
		{1, newBlock[[1]Value, [1]float64]},   // 112 bytes
		{3, newBlock[[1]Value, [3]float64]},   // 128 bytes
		{5, newBlock[[1]Value, [5]float64]},   // 144 bytes
		{7, newBlock[[1]Value, [7]float64]},   // 160 bytes
		{9, newBlock[[1]Value, [9]float64]},   // 176 bytes
		{11, newBlock[[1]Value, [11]float64]}, // 192 bytes
		{13, newBlock[[1]Value, [13]float64]}, // 208 bytes
		{15, newBlock[[1]Value, [15]float64]}, // 224 bytes
		{17, newBlock[[1]Value, [17]float64]}, // 240 bytes
		{19, newBlock[[1]Value, [19]float64]}, // 256 bytes
		{23, newBlock[[1]Value, [23]float64]}, // 288 bytes
		{27, newBlock[[1]Value, [27]float64]}, // 320 bytes
		{31, newBlock[[1]Value, [31]float64]}, // 352 bytes
		{35, newBlock[[1]Value, [35]float64]}, // 384 bytes
		{39, newBlock[[1]Value, [39]float64]}, // 416 bytes
		{43, newBlock[[1]Value, [43]float64]}, // 448 bytes
		{47, newBlock[[1]Value, [47]float64]}, // 480 bytes
		{51, newBlock[[1]Value, [51]float64]}, // 512 bytes
	},
	{ // 2 Values
		{2, newBlock[[2]Value, [2]float64]},   // 224 bytes
		{4, newBlock[[2]Value, [4]float64]},   // 240 bytes
		{6, newBlock[[2]Value, [6]float64]},   // 256 bytes
		{10, newBlock[[2]Value, [10]float64]}, // 288 bytes
		{14, newBlock[[2]Value, [14]float64]}, // 320 bytes
		{18, newBlock[[2]Value, [18]float64]}, // 352 bytes
		{22, newBlock[[2]Value, [22]float64]}, // 384 bytes
		{26, newBlock[[2]Value, [26]float64]}, // 416 bytes
		{30, newBlock[[2]Value, [30]float64]}, // 448 bytes
		{34, newBlock[[2]Value, [34]float64]}, // 480 bytes
		{38, newBlock[[2]Value, [38]float64]}, // 512 bytes
	},
	{ // 3 Values
		{1, newBlock[[3]Value, [1]float64]},   // 320 bytes
		{5, newBlock[[3]Value, [5]float64]},   // 352 bytes
		{9, newBlock[[3]Value, [9]float64]},   // 384 bytes
		{13, newBlock[[3]Value, [13]float64]}, // 416 bytes
		{17, newBlock[[3]Value, [17]float64]}, // 448 bytes
		{21, newBlock[[3]Value, [21]float64]}, // 480 bytes
		{25, newBlock[[3]Value, [25]float64]}, // 512 bytes
	},
	{ // 4 Values
		{4, newBlock[[4]Value, [4]float64]},   // 448 bytes
		{8, newBlock[[4]Value, [8]float64]},   // 480 bytes
		{12, newBlock[[4]Value, [12]float64]}, // 512 bytes
	},
}

// callSize is the room the Values of a call take.
type callSize struct {
	split int // the input whose features tabular names, or -1
	in    int // Values of the inputs
	vals  int // Values of the inputs and outputs
	dims  int // dimensions of their shapes
	words int // dims and their numbers
}

func measure(inputs []inference.Tensor, tabular *inference.TensorSpec, outputs []inference.Tensor) callSize {
	c := callSize{split: splitIndex(inputs, tabular)}
	elems := 0
	for i := range inputs {
		if i == c.split {
			c.vals += len(tabular.Features)
			elems += inputs[i].Len()
			continue
		}
		c.vals++
		c.dims, elems = c.dims+len(inputs[i].Shape), elems+numLen(&inputs[i])
	}
	c.in = c.vals
	for i := range outputs {
		c.vals++
		c.dims, elems = c.dims+len(outputs[i].Shape), elems+numLen(&outputs[i])
	}
	c.words = c.dims + elems
	return c
}

// fill writes the Values of a call into vals, of c.vals zeroed Values,
// with their shapes and numbers cut from words, of c.words, and returns
// them cut in inputs and outputs, so that no Value can grow into
// another's.
func (c *callSize) fill(vals []Value, words []float64, inputs []inference.Tensor, tabular *inference.TensorSpec, outputs []inference.Tensor) (in, out []Value) {
	// The shapes are int64s and the numbers float64s, of the same size
	// and without pointers: words holds both, the shapes first.
	var shapes []int64
	if c.dims > 0 {
		shapes = unsafe.Slice((*int64)(unsafe.Pointer(&words[0])), c.dims)
	}
	nums := words[c.dims:]
	k := 0
	for i := range inputs {
		t := &inputs[i]
		if i != c.split {
			shapes, nums = fromTensor(&vals[k], t, shapes, nums)
			k++
			continue
		}
		rows, cols := int(t.Shape[0]), len(tabular.Features)
		all := nums[: rows*cols : rows*cols] // column-major
		nums = nums[rows*cols:]
		for r := 0; r < rows; r++ {
			for j := 0; j < cols; j++ {
				all[j*rows+r] = element(t, r*cols+j)
			}
		}
		for j, f := range tabular.Features {
			vals[k] = Value{Name: f.Name, Datatype: string(t.Datatype), Num: all[j*rows : (j+1)*rows : (j+1)*rows]}
			k++
		}
	}
	for i := range outputs {
		shapes, nums = fromTensor(&vals[k], &outputs[i], shapes, nums)
		k++
	}
	if c.in > 0 {
		in = vals[:c.in:c.in]
	}
	if c.vals > c.in {
		out = vals[c.in:c.vals:c.vals]
	}
	return in, out
}

// splitIndex returns the index of the input that tabular names the
// features of, or -1.
func splitIndex(ts []inference.Tensor, tabular *inference.TensorSpec) int {
	if tabular == nil || len(tabular.Features) == 0 {
		return -1
	}
	for i := range ts {
		t := &ts[i]
		if t.Name == tabular.Name && t.Datatype != inference.BYTES && len(t.Shape) == 2 && int(t.Shape[1]) == len(tabular.Features) && t.Len() == int(t.Shape[0])*len(tabular.Features) {
			return i
		}
	}
	return -1
}

// numLen is the number of elements of t that go to Value.Num.
func numLen(t *inference.Tensor) int {
	if t.Datatype == inference.BYTES {
		return 0
	}
	return t.Len()
}

// fromTensor writes t into v, a zeroed Value, its shape and numbers taken
// from the front of shapes and nums, and returns what is left of them.
func fromTensor(v *Value, t *inference.Tensor, shapes []int64, nums []float64) ([]int64, []float64) {
	v.Name, v.Datatype = t.Name, string(t.Datatype)
	if n := len(t.Shape); n > 0 {
		s := shapes[:n:n]
		for i, d := range t.Shape {
			s[i] = d
		}
		v.Shape, shapes = s, shapes[n:]
	}
	if t.Datatype == inference.BYTES {
		v.Str = make([]string, len(t.Bytes))
		for i, b := range t.Bytes {
			v.Str[i] = string(b)
		}
		return shapes, nums
	}
	var n int
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		src := t.F32
		dst := nums[:len(src)]
		for i, x := range src {
			dst[i] = float64(x)
		}
		n = len(src)
	case inference.FP64:
		n = copy(nums[:len(t.F64)], t.F64)
	case inference.UINT64:
		src := t.U64
		dst := nums[:len(src)]
		for i, x := range src {
			dst[i] = float64(x)
		}
		n = len(src)
	case inference.BOOL:
		src := t.Bool
		dst := nums[:len(src)]
		for i, x := range src {
			dst[i] = 0
			if x {
				dst[i] = 1
			}
		}
		n = len(src)
	default:
		src := t.I64
		dst := nums[:len(src)]
		for i, x := range src {
			dst[i] = float64(x)
		}
		n = len(src)
	}
	if n > 0 {
		v.Num = nums[:n:n]
	}
	return shapes, nums[n:]
}

// element returns a numeric tensor's element i as a float64.
func element(t *inference.Tensor, i int) float64 {
	switch t.Datatype {
	case inference.FP32, inference.FP16:
		return float64(t.F32[i])
	case inference.FP64:
		return t.F64[i]
	case inference.UINT64:
		return float64(t.U64[i])
	case inference.BOOL:
		if t.Bool[i] {
			return 1
		}
		return 0
	default:
		return float64(t.I64[i])
	}
}
