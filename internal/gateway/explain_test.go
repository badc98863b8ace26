package gateway

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/batching"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/oip/oippb"
	"github.com/sluicehq/sluice/internal/traffic"
)

// newExplainGateway is newGRPCTestGateway plus "bc-batched": the same
// XGBoost model behind request batching, whose explainer must stay
// reachable.
func newExplainGateway(t *testing.T) (*Gateway, string) {
	t.Helper()
	g, url := newGRPCTestGateway(t, Options{})
	eps := map[string]*Endpoint{}
	for k, v := range g.Current().Endpoints {
		eps[k] = v
	}
	bc := eps["bc"].Backends[1].Runtime
	wrapped := batching.Wrap(bc, batching.Config{})
	t.Cleanup(func() { wrapped.(io.Closer).Close() })
	eps["bc-batched"] = &Endpoint{Name: "bc-batched", Model: "bc", Plan: traffic.Single(1), Backends: map[int]*Backend{
		1: NewBackend("bc", 1, "xgboost", wrapped, nil),
	}}
	g.Swap(&Snapshot{Revision: 3, Endpoints: eps})
	return g, url
}

// post sends body and decodes the JSON answer into out, returning the status.
func post(t *testing.T, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return resp.StatusCode
}

type inferAnswer struct {
	Parameters struct {
		Explanation struct {
			Output  string   `json:"output"`
			Columns []string `json:"columns"`
			Space   string   `json:"space"`
			Method  string   `json:"method"`
		} `json:"explanation"`
	} `json:"parameters"`
	Outputs []struct {
		Name  string    `json:"name"`
		Shape []int64   `json:"shape"`
		Data  []float64 `json:"data"`
	} `json:"outputs"`
	Error string `json:"error"`
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// TestExplainREST asks for explanations in both REST forms and both ways
// (query and request parameter) and checks that each row's contributions
// add up to the probability the same answer carries.
func TestExplainREST(t *testing.T) {
	_, url := newExplainGateway(t)
	rows := csvRows(t, 3)
	body := restJSON([]testTensor{{name: "input", datatype: inference.FP32, shape: []int64{3, 30}, values: flatten(rows)}})
	withParam := strings.Replace(body, `{"inputs"`, `{"parameters":{"explain":true},"inputs"`, 1)
	for _, tc := range []struct{ name, path, body string }{
		{"query", "/v2/models/bc/infer?explain=true", body},
		{"parameter", "/v2/models/bc/infer", withParam},
		{"pinned", "/v2/models/bc/versions/2/infer?explain=1", body},
		{"batched", "/v2/models/bc-batched/infer?explain=true", body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a inferAnswer
			if st := post(t, url+tc.path, tc.body, &a); st != 200 {
				t.Fatalf("status %d: %s", st, a.Error)
			}
			if len(a.Outputs) != 2 || a.Outputs[1].Name != ContributionsOutput {
				t.Fatalf("outputs = %+v, want the prediction and %q", a.Outputs, ContributionsOutput)
			}
			c := a.Outputs[1]
			if len(c.Shape) != 2 || c.Shape[0] != 3 || c.Shape[1] != 31 {
				t.Fatalf("contributions shape %v, want [3 31]", c.Shape)
			}
			ex := a.Parameters.Explanation
			if ex.Output != ContributionsOutput || len(ex.Columns) != 31 || ex.Columns[30] != BiasColumn || ex.Columns[0] != features(t)[0] ||
				ex.Space != inference.SpaceMargin || ex.Method != "tree_shap" {
				t.Fatalf("explanation parameters %+v", ex)
			}
			for r := range 3 {
				var sum float64
				for _, v := range c.Data[r*31 : (r+1)*31] {
					sum += v
				}
				if p := a.Outputs[0].Data[r]; math.Abs(sigmoid(sum)-p) > 1e-5 {
					t.Errorf("row %d: sigmoid(sum of contributions) = %g, prediction %g", r, sigmoid(sum), p)
				}
			}
		})
	}
	t.Run("plain", func(t *testing.T) {
		var a struct {
			Predictions []float64 `json:"predictions"`
			Explanation struct {
				Method string `json:"method"`
				Space  string `json:"space"`
				Rows   []struct {
					Bias          float64            `json:"bias"`
					Contributions map[string]float64 `json:"contributions"`
				} `json:"rows"`
			} `json:"explanation"`
			Error string `json:"error"`
		}
		in := []map[string]any{instance(t, "", nil), instance(t, "", map[string]any{"worst_area": 3000.0})}
		if st := post(t, url+"/v1/endpoints/bc:predict?explain=true", jsonBody(map[string]any{"instances": in}), &a); st != 200 {
			t.Fatalf("status %d: %s", st, a.Error)
		}
		if len(a.Explanation.Rows) != 2 || a.Explanation.Method != "tree_shap" {
			t.Fatalf("explanation %+v", a.Explanation)
		}
		for r, row := range a.Explanation.Rows {
			if len(row.Contributions) != 30 {
				t.Fatalf("row %d: %d contributions, want 30", r, len(row.Contributions))
			}
			sum := row.Bias
			for _, v := range row.Contributions {
				sum += v
			}
			if math.Abs(sigmoid(sum)-a.Predictions[r]) > 1e-5 {
				t.Errorf("row %d: sigmoid(sum) = %g, prediction %g", r, sigmoid(sum), a.Predictions[r])
			}
		}
		if a.Explanation.Rows[1].Contributions["worst_area"] == a.Explanation.Rows[0].Contributions["worst_area"] {
			t.Error("changing worst_area did not change its contribution")
		}
	})
}

func flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func TestExplainErrors(t *testing.T) {
	_, url := newExplainGateway(t)
	row := restJSON([]testTensor{{name: "input", datatype: inference.FP32, shape: []int64{1, 30}, values: csvRows(t, 1)[0]}})
	echo := restJSON([]testTensor{{name: "fp64", datatype: inference.FP64, shape: []int64{1}, values: []float64{1}}})
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"bad query", "/v2/models/bc/infer?explain=maybe", row, 400, `explain="maybe"`},
		{"bad parameter", "/v2/models/bc/infer", strings.Replace(row, `{"inputs"`, `{"parameters":{"explain":"yes"},"inputs"`, 1), 400, "parameters.explain"},
		{"no explainer", "/v2/models/echo/infer?explain=true", echo, 400, "(format stub) has no explainer"},
		{"plain bad query", "/v1/endpoints/bc:predict?explain=2", `{"instances":[]}`, 400, "explain"},
		{"explain false", "/v2/models/echo/infer?explain=false", echo, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a inferAnswer
			st := post(t, url+tc.path, tc.body, &a)
			if st != tc.status || !strings.Contains(a.Error, tc.want) {
				t.Fatalf("status %d error %q, want %d containing %q", st, a.Error, tc.status, tc.want)
			}
		})
	}
}

// TestExplainGRPC asks for explanations with the bool_param "explain".
func TestExplainGRPC(t *testing.T) {
	g, _ := newExplainGateway(t)
	s := serveGRPC(t, g)
	rows := csvRows(t, 2)
	ins, _ := grpcInputs(t, []testTensor{{name: "input", datatype: inference.FP32, shape: []int64{2, 30}, values: flatten(rows)}}, false)
	req := &oippb.ModelInferRequest{ModelName: "bc", Inputs: ins, Parameters: map[string]*oippb.InferParameter{
		ParamExplain: {ParameterChoice: &oippb.InferParameter_BoolParam{BoolParam: true}},
	}}
	resp, err := s.client.ModelInfer(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Outputs) != 2 || resp.Outputs[1].Name != ContributionsOutput {
		t.Fatalf("outputs %v", resp.Outputs)
	}
	c := resp.Outputs[1].GetContents().GetFp64Contents()
	p, _ := fp32Output(t, resp, 0)
	for r := range 2 {
		var sum float64
		for _, v := range c[r*31 : (r+1)*31] {
			sum += v
		}
		if math.Abs(sigmoid(sum)-float64(p[r])) > 1e-5 {
			t.Errorf("row %d: sigmoid(sum) = %g, prediction %g", r, sigmoid(sum), p[r])
		}
	}
	var desc struct {
		Columns []string `json:"columns"`
	}
	if err := json.Unmarshal([]byte(resp.Parameters["explanation"].GetStringParam()), &desc); err != nil || len(desc.Columns) != 31 {
		t.Fatalf("explanation parameter %v (%v)", resp.Parameters["explanation"], err)
	}
	req.ModelName = "echo"
	req.Inputs, _ = grpcInputs(t, []testTensor{{name: "fp64", datatype: inference.FP64, shape: []int64{1}, values: []float64{1}}}, false)
	if _, err := s.client.ModelInfer(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no explainer") || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("echo with explain: err = %v, want InvalidArgument naming the missing explainer", err)
	}
}

// TestExplainMultiClass checks the shapes of a multi-class explanation:
// [rows, classes, features+1] over OIP with the class labels, and one
// object per class in the plain form, each adding up to its margin.
func TestExplainMultiClass(t *testing.T) {
	data, err := os.ReadFile("../inference/xgboost/testdata/iris_softprob.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := xgboost.Format{}.Load(context.Background(), data, inference.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{})
	g.Swap(&Snapshot{Revision: 1, Endpoints: map[string]*Endpoint{
		"iris": {Name: "iris", Model: "iris", Plan: traffic.Single(1), Backends: map[int]*Backend{1: NewBackend("iris", 1, "xgboost", m, nil)}},
	}})
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var a inferAnswer
	var raw struct {
		Parameters struct {
			Explanation struct {
				Groups []string `json:"groups"`
			} `json:"explanation"`
		} `json:"parameters"`
	}
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[2,4],"data":[4.9,2.4,3.3,1.0,6.3,3.3,6.0,2.5]}]}`
	if st := post(t, srv.URL+"/v2/models/iris/infer?explain=true", body, &a); st != 200 {
		t.Fatalf("status %d: %s", st, a.Error)
	}
	post(t, srv.URL+"/v2/models/iris/infer?explain=true", body, &raw)
	c := a.Outputs[1]
	if len(c.Shape) != 3 || c.Shape[0] != 2 || c.Shape[1] != 3 || c.Shape[2] != 5 || len(raw.Parameters.Explanation.Groups) != 3 {
		t.Fatalf("contributions shape %v, groups %v; want [2 3 5] and 3 labels", c.Shape, raw.Parameters.Explanation.Groups)
	}
	probs := a.Outputs[0].Data
	for r := range 2 {
		margins := make([]float64, 3)
		var z float64
		for k := range 3 {
			for _, v := range c.Data[(r*3+k)*5 : (r*3+k+1)*5] {
				margins[k] += v
			}
			z += math.Exp(margins[k])
		}
		for k := range 3 {
			if p := math.Exp(margins[k]) / z; math.Abs(p-probs[r*3+k]) > 1e-5 {
				t.Errorf("row %d class %d: softmax of the contributions %g, probability %g", r, k, p, probs[r*3+k])
			}
		}
	}

	var plain struct {
		Explanation struct {
			Rows []map[string]struct {
				Bias          float64            `json:"bias"`
				Contributions map[string]float64 `json:"contributions"`
			} `json:"rows"`
		} `json:"explanation"`
	}
	if st := post(t, srv.URL+"/v1/endpoints/iris:predict?explain=true", `{"instances":[{"sepal_length":4.9,"sepal_width":2.4,"petal_length":3.3,"petal_width":1.0}]}`, &plain); st != 200 {
		t.Fatalf("status %d", st)
	}
	if len(plain.Explanation.Rows) != 1 || len(plain.Explanation.Rows[0]) != 3 || len(plain.Explanation.Rows[0]["2"].Contributions) != 4 {
		t.Fatalf("plain explanation %+v, want one row with classes 0, 1, 2 of 4 features each", plain.Explanation)
	}
}
