package linear

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// base is a valid model the bad-artifact cases edit.
const base = `{
  "format": "sluice.linear/v1",
  "task": "multiclass",
  "link": "softmax",
  "features": [{"name": "a", "type": "float"}, {"name": "b"}],
  "classes": ["x", "y", "z"],
  "intercept": [0.1, 0.2, 0.3],
  "coefficients": [[1, 2], [3, 4], [5, 6]],
  "metadata": {"trained_by": "test"}
}`

func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("%q is not in the base model", old)
	}
	return strings.Replace(base, old, new, 1)
}

func TestBaseIsValid(t *testing.T) {
	if _, err := (Format{}).Load(context.Background(), []byte(base), inference.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestBadArtifacts checks that malformed models fail with an error wrapping
// ErrInvalidModel that names the JSON path.
func TestBadArtifacts(t *testing.T) {
	binary := edit(t, `"task": "multiclass",
  "link": "softmax"`, `"task": "binary",
  "link": "logit"`)
	regression := edit(t, `"task": "multiclass",
  "link": "softmax"`, `"task": "regression",
  "link": "identity"`)
	cases := []struct {
		name, model, want string
	}{
		{"empty", "", "not a JSON document"},
		{"syntax", edit(t, `"b"}]`, `"b"]]`), "line 5, column"},
		{"trailing data", base + "{}", "trailing data after the JSON document"},
		{"array", `[1, 2]`, "(document): want an object, got an array"},
		{"no format", edit(t, `"format": "sluice.linear/v1",`, ``), `format: missing: want "sluice.linear/v1"`},
		{"format v2", edit(t, `sluice.linear/v1`, `sluice.linear/v2`), `format: "sluice.linear/v2" is not supported (want "sluice.linear/v1")`},
		{"format number", edit(t, `"sluice.linear/v1"`, `1`), "format: want a string, got a number"},
		{"unknown field", edit(t, `"task"`, `"bias": 1, "task"`), "bias: unknown field (known: classes, coefficients, feature_means, features, format, intercept, link, metadata, task)"},
		{"duplicate field", edit(t, `"task": "multiclass",`, `"task": "multiclass", "task": "binary",`), "task: appears twice"},
		{"no task", edit(t, `"task": "multiclass",`, ``), "task: missing"},
		{"no coefficients", edit(t, `,
  "coefficients": [[1, 2], [3, 4], [5, 6]]`, ``), "coefficients: missing"},
		{"task unknown", edit(t, `"task": "multiclass"`, `"task": "ranking"`), `task: "ranking" is not one of regression, binary, multiclass`},
		{"task null", edit(t, `"task": "multiclass"`, `"task": null`), "task: want a string, got null"},
		{"link for task", edit(t, `"link": "softmax"`, `"link": "logit"`), `link: "logit" does not apply to task multiclass (want softmax or ovr)`},
		{"binary link", strings.Replace(binary, `"logit"`, `"softmax"`, 1), `link: "softmax" does not apply to task binary (want logit)`},
		{"regression link", strings.Replace(regression, `"identity"`, `"log"`, 1), `link: "log" does not apply to task regression (want identity)`},
		{"regression classes", regression, "classes: must be absent for task regression"},
		{"binary three classes", binary, "classes: has 3 classes, task binary needs 2"},
		{"multiclass one class", edit(t, `["x", "y", "z"]`, `["x"]`), "classes: has 1 classes, task multiclass needs at least 2"},
		{"no classes", edit(t, `"classes": ["x", "y", "z"],`, ``), "classes: has 0 classes"},
		{"duplicate class", edit(t, `["x", "y", "z"]`, `["x", "y", "x"]`), `classes[2]: "x" is also classes[0]`},
		{"empty class", edit(t, `["x", "y", "z"]`, `["x", "", "z"]`), "classes[1]: must not be empty"},
		{"class number", edit(t, `["x", "y", "z"]`, `["x", 2, "z"]`), "classes[1]: want a string, got a number"},
		{"features object", edit(t, `[{"name": "a", "type": "float"}, {"name": "b"}]`, `{"name": "a"}`), "features: want an array, got an object"},
		{"no features", edit(t, `[{"name": "a", "type": "float"}, {"name": "b"}]`, `[]`), "features: must list at least one feature"},
		{"feature string", edit(t, `{"name": "b"}`, `"b"`), "features[1]: want an object, got a string"},
		{"feature unknown field", edit(t, `{"name": "b"}`, `{"name": "b", "scale": 2}`), "features[1].scale: unknown field (known: name, type)"},
		{"feature no name", edit(t, `{"name": "b"}`, `{"type": "int"}`), "features[1].name: missing"},
		{"feature empty name", edit(t, `{"name": "b"}`, `{"name": ""}`), "features[1].name: must not be empty"},
		{"feature duplicate", edit(t, `{"name": "b"}`, `{"name": "a"}`), `features[1].name: "a" is also features[0].name`},
		{"feature type", edit(t, `"type": "float"`, `"type": "double"`), `features[0].type: "double" is not one of float, int, bool`},
		{"feature categorical", edit(t, `"type": "float"`, `"type": "categorical"`), `features[0].type: "categorical" is not supported: one-hot encode`},
		{"feature repeated key", edit(t, `{"name": "b"}`, `{"name": "b", "name": "c"}`), "features[1].name: appears twice"},
		{"intercept count", edit(t, `[0.1, 0.2, 0.3]`, `[0.1, 0.2]`), "intercept: has 2 values, task multiclass with 3 class(es) needs 3"},
		{"intercept string", edit(t, `[0.1, 0.2, 0.3]`, `[0.1, "0.2", 0.3]`), "intercept[1]: want a number, got a string"},
		{"intercept null", edit(t, `[0.1, 0.2, 0.3]`, `[0.1, null, 0.3]`), "intercept[1]: want a number, got null"},
		{"intercept huge", edit(t, `[0.1, 0.2, 0.3]`, `[0.1, 1e400, 0.3]`), "intercept[1]: 1e400 is out of the float64 range"},
		{"coefficient rows", edit(t, `[[1, 2], [3, 4], [5, 6]]`, `[[1, 2], [3, 4]]`), "coefficients: has 2 rows, task multiclass with 3 class(es) needs 3"},
		{"coefficient width", edit(t, `[[1, 2], [3, 4], [5, 6]]`, `[[1, 2], [3, 4, 5], [5, 6]]`), "coefficients[1]: has 3 values, want 2 (one per feature)"},
		{"coefficient type", edit(t, `[[1, 2], [3, 4], [5, 6]]`, `[[1, 2], [3, true], [5, 6]]`), "coefficients[1][1]: want a number, got a boolean"},
		{"coefficient row type", edit(t, `[[1, 2], [3, 4], [5, 6]]`, `[[1, 2], 3, [5, 6]]`), "coefficients[1]: want an array, got a number"},
		{"metadata number", edit(t, `"test"`, `7`), "metadata.trained_by: want a string, got a number"},
		{"metadata array", edit(t, `{"trained_by": "test"}`, `["test"]`), "metadata: want an object, got an array"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Format{}.Load(context.Background(), []byte(c.model), inference.LoadOptions{})
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want an error containing %q", m.Signature(), c.want)
			}
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Errorf("Load error %q does not wrap ErrInvalidModel", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestBadOptions checks option errors, which are not ErrInvalidModel.
func TestBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts inference.LoadOptions
		want string
	}{
		{"param", inference.LoadOptions{Params: map[string]string{"raw_score": "true"}}, "params.raw_score: unknown parameter"},
		{"threads", inference.LoadOptions{Threads: -2}, "threads is -2"},
		{"feature count", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Features: []inference.Feature{{Name: "a"}}}}}}, "has 1 features, the model has 2"},
		{"labels", inference.LoadOptions{Signature: &inference.Signature{Outputs: []inference.TensorSpec{{Labels: []string{"p", "q"}}}}}, "has 2 labels, the model outputs 3 values per row"},
		{"two outputs", inference.LoadOptions{Signature: &inference.Signature{Outputs: make([]inference.TensorSpec, 2)}}, "signature.outputs: has 2 outputs"},
		{"string input", inference.LoadOptions{Signature: &inference.Signature{Inputs: []inference.TensorSpec{{Datatype: inference.BYTES}}}}, "BYTES is not numeric"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Format{}.Load(context.Background(), []byte(base), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, c.want)
			}
			if errors.Is(err, inference.ErrInvalidModel) {
				t.Errorf("option error %q wraps ErrInvalidModel", err)
			}
		})
	}
}
