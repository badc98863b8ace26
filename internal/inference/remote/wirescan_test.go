package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/oip"
)

// validJSON is json.Valid as the response scan judges it: one value and
// nothing after it but whitespace.
func validJSON(b []byte) error {
	i := skipWS(b, 0)
	end, err := scanValue(b, i, 0)
	if err != nil {
		return err
	}
	return scanEnd(b, end)
}

func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// TestScanValue checks the validating scanner against json.Valid on each
// part of the grammar, and that its errors name the fault and where it is.
func TestScanValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the error, or "" when valid
	}{
		{`0`, ""},
		{` -0.5e+10 `, ""},
		{`1E-3`, ""},
		{`123456789012345678901234567890`, ""},
		{`"plain"`, ""},
		{`"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00 \ud800"`, ""},
		{"\"\x7f \xff\xfe invalid UTF-8 is taken, as by json.Valid\"", ""},
		{`true`, ""},
		{` [ false , null , {} , [ ] , { "a" : { "b" : [ 1 ] } } ] `, ""},
		{`{"a":1,"a":2}`, ""}, // duplicate keys: json.Valid takes them
		{nest(maxDepth, ""), ""},
		{nest(maxDepth-1, `{"a":1}`), ""},
		{``, "the body is empty"},
		{`   `, "unexpected end of input, expected a value at offset 3"},
		{`01`, "unexpected '1' after the top-level value at offset 1"},
		{`-`, "unexpected end of input, expected a digit at offset 1"},
		{`-a`, "unexpected 'a', expected a digit at offset 1"},
		{`+1`, "unexpected '+', expected a value at offset 0"},
		{`.5`, "unexpected '.', expected a value at offset 0"},
		{`1.`, "expected a digit after the decimal point at offset 2"},
		{`1.e5`, "unexpected 'e', expected a digit after the decimal point at offset 2"},
		{`1e`, "expected a digit in the exponent at offset 2"},
		{`1e+`, "expected a digit in the exponent at offset 3"},
		{`NaN`, "JSON has no NaN or Infinity"},
		{`[-Infinity]`, "unexpected 'I', expected a digit at offset 2"},
		{`tru`, `unexpected end of input, expected "true" at offset 3`},
		{`nul1`, `unexpected '1', expected "null" at offset 3`},
		{`True`, "unexpected 'T', expected a value at offset 0"},
		{`"abc`, "unexpected end of input in the string at offset 0 at offset 4"},
		{`"\`, "unexpected end of input in the string at offset 0 at offset 2"},
		{"\"a\nb\"", "control character 0x0a in a string (write it escaped) at offset 2"},
		{"\"\x00\"", "control character 0x00"},
		{`"\x"`, `invalid escape "\\x" in a string at offset 1`},
		{`"\u12"`, `invalid \u escape (want four hex digits) in a string at offset 1`},
		{`"\u12g4"`, `invalid \u escape`},
		{`"\U0041"`, `invalid escape "\\U"`},
		{`[1,]`, "unexpected ']', expected a value at offset 3"},
		{`[1 2]`, "unexpected '2', expected ',' or ']' after an array element at offset 3"},
		{`[1`, "unexpected end of input, expected ',' or ']' after an array element at offset 2"},
		{`[`, "unexpected end of input, expected a value at offset 1"},
		{`{"a":1,}`, "unexpected '}', expected a string key at offset 7"},
		{`{"a" 1}`, "unexpected '1', expected ':' after an object key at offset 5"},
		{`{a:1}`, "unexpected 'a', expected a string key at offset 1"},
		{`{"a":1]`, "unexpected ']', expected ',' or '}' after an object member at offset 6"},
		{`[1}`, "unexpected '}', expected ',' or ']'"},
		{`{"a":[}`, "unexpected '}', expected a value at offset 6"},
		{`{} {}`, "unexpected '{' after the top-level value at offset 3"},
		{"[]\x00", "unexpected byte 0x00 after the top-level value at offset 2"},
		{nest(maxDepth+1, ""), "arrays and objects nested deeper than 10000 levels at offset 10000"},
		{nest(maxDepth, `{"a":1}`), "nested deeper than 10000 levels at offset 10000"},
		{nest(300, "1,"), "expected a value at offset 302"}, // deeper than the scanner's first stack words
	} {
		err := validJSON([]byte(tc.in))
		if valid := json.Valid([]byte(tc.in)); valid != (tc.want == "") {
			t.Fatalf("bad case %.40q: json.Valid says %v", tc.in, valid)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("scan(%.40q) = %v, want no error", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "response is not valid JSON: ")):
			t.Errorf("scan(%.40q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestScanEveryByte checks the scanner against json.Valid with every byte
// in each place where the grammar gives bytes a meaning.
func TestScanEveryByte(t *testing.T) {
	for c := range 256 {
		for _, form := range []string{`"%c"`, `"\%c"`, `"\u00%c0"`, `"\u%c000"`, `"\u000%c"`, `[%c]`, `[1%c]`, `1%c`, `-%c`, `0.%c`, `1e%c`, `{"a"%c1}`, `{"a":1%c}`, `t%cue`, `[]%c`} {
			b := []byte(strings.Replace(form, "%c", string([]byte{byte(c)}), 1))
			err := validJSON(b)
			if valid := json.Valid(b); valid != (err == nil) {
				t.Errorf("%q: json.Valid says %v, the scanner %v", b, valid, err)
			}
		}
	}
}

// TestDecodeInvalidJSON checks that invalid JSON anywhere in a response,
// in the array the oip decoder reads as well as around it, is reported
// as invalid JSON naming the fault, before any other fault.
func TestDecodeInvalidJSON(t *testing.T) {
	const tensor = `{"name":"y","datatype":"FP32","shape":[1],"data":[1]}`
	for _, tc := range []struct{ body, want string }{
		{`{"model_name":"m` + "\n" + `","outputs":[` + tensor + `]}`, "control character 0x0a in a string (write it escaped) at offset 16"},
		{`{"outputs":[` + tensor + `],"parameters":{"a":[1,]}}`, "unexpected ']', expected a value at offset 88"},
		{`{"outputs":[` + tensor + `]} x`, "unexpected 'x' after the top-level value at offset 68"},
		{`{"outputs":[` + tensor + `]}}`, "unexpected '}' after the top-level value at offset 67"},
		{`{"outputs":[` + tensor + `]`, "unexpected end of input, expected ',' or '}' after an object member at offset 66"},
		{`{"outputs":[` + tensor + `,]}`, "unexpected ']', expected a value at offset 66"},
		{`{"outputs":[` + tensor, "unexpected end of input, expected ',' or ']' after an array element at offset 65"},
		{`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1e]}]}`, "unexpected ']', expected a digit in the exponent at offset 64"},
		// The decoder's own fault comes first in the array, the syntax
		// error after it; the syntax error is what is reported.
		{`{"outputs":[{"name":"y","datatype":"INT8","shape":[1],"data":[300]},{"x":tru}]}`, `unexpected '}', expected "true" at offset 76`},
		{`{"outputs":[` + tensor + `],"outputs":[1,}]}`, "unexpected '}', expected a value at offset 80"},
		{`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[]}`, `"outputs" twice`},
		{`{"outputs":{"a":1,}}`, "expected a string key at offset 18"},
		{`{"error":"bad` + "\t" + `"}`, "control character 0x09"},
		{`[1,2`, "unexpected end of input, expected ',' or ']' after an array element at offset 4"},
		{`"a" "b"`, "after the top-level value at offset 4"},
	} {
		if json.Valid([]byte(tc.body)) != strings.Contains(tc.want, "twice") {
			t.Fatalf("bad case %s: only the one of two outputs is valid JSON", tc.body)
		}
		_, err := decodeV2Response([]byte(tc.body))
		var ie *inference.InputError
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ie) {
			t.Errorf("decodeV2Response(%s)\n got error %v\nwant a plain error containing %q", tc.body, err, tc.want)
		}
	}
	for _, tc := range []struct {
		body string
		rows int
		want string
	}{
		{`{"predictions":[[1,2],[3]],"x":NaN}`, 2, "unexpected 'N', expected a value (JSON has no NaN or Infinity) at offset 31"},
		{`{"predictions":[[1,2],[3,"]]}`, 2, "unexpected end of input in the string at offset 25"},
		{`{"predictions":[a",",1]}`, 2, "unexpected 'a', expected a value at offset 16"},
		{`{"predictions":[[1],[2],[3}]}`, 2, "unexpected '}', expected ',' or ']' after an array element at offset 26"},
		{`{"predictions":[{"a":1},{"a":}]}`, 2, "unexpected '}', expected a value at offset 29"},
		{`{"predictions":[["x"],[1,]]}`, 2, "unexpected ']', expected a value at offset 25"},
	} {
		out := newTFOutput(inference.TensorSpec{Name: "p", Datatype: inference.FP32})
		_, _, err := decodePredictions([]byte(tc.body), tc.rows, &out, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodePredictions(%s)\n got error %v\nwant one containing %q", tc.body, err, tc.want)
		}
	}
}

// TestDecodeDepth checks the nesting bound on both sides of the outputs:
// 10,000 levels are taken, as by json.Valid, and one more is invalid
// JSON.
func TestDecodeDepth(t *testing.T) {
	const tensor = `{"name":"y","datatype":"FP32","shape":[1],"data":[1]}`
	head := `{"outputs":[` + tensor + `],"parameters":`
	for _, tc := range []struct {
		body  string
		valid bool   // as json.Valid judges it
		want  string // the error, or "" for none
	}{
		{head + nest(maxDepth-1, "") + `}`, true, ""},
		{head + nest(maxDepth, "") + `}`, false, fmt.Sprintf("response is not valid JSON: arrays and objects nested deeper than 10000 levels at offset %d", len(head)+maxDepth-1)},
		{`{"outputs":[` + tensor + `,` + nest(maxDepth-2, "") + `]}`, true, `outputs[1]: expected an input tensor object, got an array`},
		{`{"outputs":[` + tensor + `,` + nest(maxDepth-1, "") + `]}`, false, fmt.Sprintf("response is not valid JSON: arrays and objects nested deeper than 10000 levels at offset %d", len(`{"outputs":[`+tensor+`,`)+maxDepth-2)},
	} {
		if valid := json.Valid([]byte(tc.body)); valid != tc.valid {
			t.Fatalf("bad case %.80s...: json.Valid says %v", tc.body, valid)
		}
		got, err := decodeV2Response([]byte(tc.body))
		switch {
		case tc.want == "" && (err != nil || len(got) != 1):
			t.Errorf("decodeV2Response(%.80s...) = %v, %v; want one tensor", tc.body, got, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("decodeV2Response(%.80s...) error = %v, want one containing %q", tc.body, err, tc.want)
		}
	}
}

func TestKeyIs(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`outputs`, true},
		{`output`, false},
		{`outputsx`, false},
		{`\u006futputs`, true},
		{`outp\u0075t\u0073`, true},
		{`\u006Futputs`, true},
		{`outputs\u0000`, false},
		{`\"utputs`, false},
		{`o\/tputs`, false},
		{`outpüts`, false},
		{`outp\u00fcts`, false},
		{`\ud800utputs`, false},
		{"outp\xffuts", false},
		{`\toutputs`, false},
	} {
		if got := keyIs([]byte(tc.raw), "outputs"); got != tc.want {
			t.Errorf("keyIs(%q) = %v, want %v", tc.raw, got, tc.want)
		}
		var s string
		if err := json.Unmarshal([]byte(`"`+tc.raw+`"`), &s); err != nil || (s == "outputs") != tc.want {
			t.Fatalf("bad case %q: encoding/json reads %q, %v", tc.raw, s, err)
		}
	}
}

func TestMatchArray(t *testing.T) {
	for _, tc := range []struct {
		in    string
		end   int // -1 when it does not close
		elems int
	}{
		{`[]`, 2, 0},
		{`[ ] x`, 3, 0},
		{`[1]`, 3, 1},
		{`[[1,2],[3,4],{"a":[5,6]}]`, 25, 3},
		{`[",]",  "\"]", "\\",1] `, 22, 4},
		{`["\\\"]"]`, 9, 1},
		{`[[`, -1, 0},
		{`["]`, -1, 0},
		{`[1,"\"]`, -1, 0},
	} {
		end, elems, ok := matchArray([]byte(tc.in), 0)
		if !ok {
			end = -1
		}
		if end != tc.end || elems != tc.elems {
			t.Errorf("matchArray(%s) = %d, %d elements; want %d, %d", tc.in, end, elems, tc.end, tc.elems)
		}
	}
}

// FuzzScanJSON checks the validating scanner against json.Valid.
func FuzzScanJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		err := validJSON(b)
		if valid := json.Valid(b); valid != (err == nil) {
			t.Fatalf("json.Valid says %v, the scanner %v", valid, err)
		}
	})
}

// FuzzDecodeV2ResponseDiff holds decodeV2Response to the reference, the
// decoder that ran json.Valid first: a body json.Valid rejects is
// rejected as invalid JSON, and any other gets what the reference gives,
// the same tensors or the same error.
func FuzzDecodeV2ResponseDiff(f *testing.F) {
	f.Add(oip.AppendInferResponse(nil, &oip.InferResponse{ModelName: "m", Outputs: sampleTensors()}))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		got, err := decodeV2Response(body)
		if !checkedAgainstValid(t, body, orig, got, err) {
			return
		}
		want, wantErr := refDecodeV2Response(body)
		sameResult(t, got, err, want, wantErr)
	})
}

// checkedAgainstValid fails t when a decoder changed body (orig is its
// copy from before) or accepted invalid JSON, and reports whether body is
// valid JSON, to be compared with the reference decoder.
func checkedAgainstValid(t *testing.T, body, orig []byte, got []inference.Tensor, err error) bool {
	t.Helper()
	if !bytes.Equal(body, orig) {
		t.Fatalf("body changed:\n%q\nwas\n%q", body, orig)
	}
	if json.Valid(body) {
		return true
	}
	if err == nil || !strings.HasPrefix(err.Error(), "response is not valid JSON") {
		t.Fatalf("invalid JSON gives %+v, %v", got, err)
	}
	return false
}

// FuzzDecodePredictionsDiff is FuzzDecodeV2ResponseDiff for TF Serving
// answers.
func FuzzDecodePredictionsDiff(f *testing.F) {
	out := newTFOutput(inference.TensorSpec{Name: "p", Datatype: inference.FP32})
	f.Fuzz(func(t *testing.T, body []byte, rows int) {
		orig := bytes.Clone(body)
		got, _, err := decodePredictions(body, rows, &out, nil)
		if !checkedAgainstValid(t, body, orig, got, err) {
			return
		}
		want, _, wantErr := refDecodePredictions(body, rows, &out, nil)
		sameResult(t, got, err, want, wantErr)
	})
}

func sameResult(t *testing.T, got []inference.Tensor, err error, want []inference.Tensor, wantErr error) {
	t.Helper()
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("got %+v, %v\nthe reference %+v, %v", got, err, want, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("error %q, the reference's %q", err, wantErr)
	}
	if diff := cmp.Diff(want, got, tensorOpts); diff != "" {
		t.Fatalf("tensors differ from the reference's (-reference +got):\n%s", diff)
	}
}
