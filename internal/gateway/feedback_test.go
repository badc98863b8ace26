package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/monitor"
)

type rewards struct{ got []float64 }

func (r *rewards) Reward(endpoint string, version int, reward float64) { r.got = append(r.got, reward) }

func TestFeedback(t *testing.T) {
	rw := &rewards{}
	outcomes := monitor.NewOutcomes()
	_, srv := newTestGateway(t, Options{Recent: monitor.NewRecent(100, time.Hour), Outcomes: outcomes, Rewards: rw})
	body := jsonBody(map[string]any{"instances": []any{instance(t, "", nil), instance(t, "", nil)}})
	resp, err := http.Post(srv.URL+"/v1/endpoints/bc:predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get(HeaderRequestID)

	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/v1/feedback", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		b, _ := json.Marshal(m)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		body   string
		status int
		want   string
	}{
		{`{"request_id":"` + id + `","label":[1,1]}`, 200, `"joined":1`},
		{`{"request_id":"` + id + `","reward":2.5}`, 200, `"joined":1`},
		{`{"request_id":"nope","label":1}`, 404, `unknown or older`},
		{`{"request_id":"` + id + `","label":[1]}`, 400, `label has 1 values, the request had 2 rows`},
		{`{"request_id":"` + id + `"}`, 400, `give a label or a reward`},
		{`{"request_id":"` + id + `","label":"yes"}`, 400, `feedback.label`},
		{`{"request_id":"` + id + `","lable":1}`, 400, `unknown field`},
		{`[{"request_id":"` + id + `","label":[0,0]},{"request_id":"gone","label":1}]`, 200, `"rejected":1`},
		{`{"feedback":[{"request_id":"` + id + `","reward":1}]}`, 200, `"joined":1`},
		{`[]`, 400, `no items`},
		{`{`, 400, `feedback`},
	}
	for _, tt := range tests {
		status, got := post(tt.body)
		if status != tt.status || !strings.Contains(got, tt.want) {
			t.Errorf("POST %s = %d %s, want %d with %s", tt.body, status, got, tt.status, tt.want)
		}
	}
	if len(rw.got) != 2 || rw.got[0] != 2.5 {
		t.Errorf("rewards = %v, want [2.5 1]", rw.got)
	}
	vs := outcomes.Versions("bc")
	if len(vs) != 1 || vs[0].Labeled != 2 || vs[0].Rows != 4 || vs[0].Rewards != 2 {
		t.Errorf("outcomes = %+v", vs)
	}
}
