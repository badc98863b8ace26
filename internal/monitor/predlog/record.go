package predlog

import "time"

// Record is one prediction: what a version of an endpoint was asked and
// what it answered. A request that was also mirrored to shadow or
// challenger versions gives one record per version, all with the request's
// id, so they can be compared.
type Record struct {
	// RequestID is the id the caller got in Sluice-Request-Id.
	RequestID string
	// Time is when the request arrived. Log sets it to the current time
	// when it is zero.
	Time time.Time
	// Endpoint is the endpoint's name.
	Endpoint string
	// Version is the model version that scored the request.
	Version int
	// Role is the version's part for this request: stable, canary,
	// shadow, challenger, arm, preview, active, previous (traffic.Role).
	Role string
	// Inputs are the request's inputs, a Value per named feature or
	// tensor. Log redacts the configured feature names.
	Inputs []Value
	// Outputs are the version's outputs; empty when it failed.
	Outputs []Value
	// LatencyNS is the prediction's latency in nanoseconds.
	LatencyNS int64
	// Error is the failure, when the prediction failed.
	Error string
}

// Value is one named input or output: a feature's values, one per row of
// the request, or a tensor's elements in row-major order.
//
// Numbers, booleans (0 and 1) and integers are held in Num, so integers
// beyond ±2^53 lose precision; strings and bytes are held in Str. In JSON,
// NaN and the infinities are the strings "NaN", "Infinity" and
// "-Infinity", as in the protobuf JSON mapping.
type Value struct {
	// Name of the feature or tensor.
	Name string
	// Datatype is the Open Inference Protocol datatype of a tensor
	// ("FP32", "BYTES", ...), or of the tensor a named feature was taken
	// from; empty when not known. FP32 and FP16 numbers are written as
	// the shortest decimal that reads back as the same float32, and read
	// back as that float32.
	Datatype string
	// Shape of a tensor; nil for a named feature, which has one value
	// per row.
	Shape []int64
	// Num holds numeric elements.
	Num []float64
	// Str holds string and bytes elements.
	Str []string
}

// Len returns the number of elements of v.
func (v *Value) Len() int { return len(v.Num) + len(v.Str) }

// Num returns a named numeric feature with one value per row.
func Num(name string, rows ...float64) Value { return Value{Name: name, Num: rows} }

// Str returns a named string feature with one value per row.
func Str(name string, rows ...string) Value { return Value{Name: name, Str: rows} }
