package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

func TestParseConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || time.Duration(c.Rules[0].For) != time.Minute || c.Rules[0].Match["endpoint"] != "fraud" || time.Duration(c.Interval) != 10*time.Second {
		t.Errorf("got %+v", c)
	}
	bad := []struct{ name, yaml, want string }{
		{"unknown field", "rules: [{name: A, metric: accuracy, comparison: '<', threshold: 1, treshold: 2}]", "treshold"},
		{"unknown metric", "rules: [{name: A, metric: acuracy, comparison: '<', threshold: 1}]", "rules[0].metric"},
		{"bad comparison", "rules: [{name: A, metric: accuracy, comparison: '=<', threshold: 1}]", "rules[0].comparison"},
		{"bad name", "rules: [{name: 'a b', metric: accuracy, comparison: '<', threshold: 1}]", "rules[0].name"},
		{"duplicate", "rules: [{name: A, metric: accuracy, comparison: '<', threshold: 1}, {name: A, metric: f1, comparison: '<', threshold: 1}]", "rules[1].name"},
		{"no rules", "interval: 1s", "rules: at least one"},
		{"bad webhook", "webhooks: [{url: 'ftp://x'}]\nrules: [{name: A, metric: accuracy, comparison: '<', threshold: 1}]", "webhooks[0].url"},
		{"bad duration", "rules: [{name: A, metric: accuracy, comparison: '<', threshold: 1, for: soon}]", "duration"},
		{"alertname label", "rules: [{name: A, metric: accuracy, comparison: '<', threshold: 1, labels: {alertname: x}}]", "rules[0].labels.alertname"},
		{"not yaml", "rules: [", ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	data, _ := os.ReadFile("testdata/rules.yaml")
	f.Add(data)
	f.Add([]byte("rules: [{name: A, metric: accuracy, comparison: '<', threshold: 1}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil && c.Validate() != nil {
			t.Fatalf("accepted an invalid config")
		}
	})
}

// fakeSource returns the samples it is set to.
type fakeSource struct {
	mu sync.Mutex
	s  []Sample
}

func (f *fakeSource) set(s ...Sample) {
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
}

func (f *fakeSource) source(time.Time) []Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func drift(endpoint string, v float64) Sample {
	return Sample{Metric: "drift_psi_max", Labels: map[string]string{"endpoint": endpoint, "version": "1"}, Value: v}
}

// TestEvalLifecycle walks an alert through pending, firing and resolved,
// as Prometheus's rule evaluation does.
func TestEvalLifecycle(t *testing.T) {
	data, _ := os.ReadFile("testdata/rules.yaml")
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	m := NewManager(*c, src.source, Options{})
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at              time.Duration
		samples         []Sample
		fired, resolved int
		state           string // of the fraud alert after the step, "" for none
	}{
		{0, []Sample{drift("fraud", 0.1)}, 0, 0, ""},
		{10 * time.Second, []Sample{drift("fraud", 0.3), drift("other", 0.9)}, 0, 0, StatePending},
		{50 * time.Second, []Sample{drift("fraud", 0.35)}, 0, 0, StatePending},
		{70 * time.Second, []Sample{drift("fraud", 0.4)}, 1, 0, StateFiring},
		{80 * time.Second, []Sample{drift("fraud", 0.5)}, 0, 0, StateFiring},
		{90 * time.Second, []Sample{drift("fraud", 0.1)}, 0, 1, ""},
		{100 * time.Second, []Sample{drift("fraud", 0.3)}, 0, 0, StatePending},
	}
	for i, st := range steps {
		src.set(st.samples...)
		fired, resolved := m.Eval(t0.Add(st.at))
		if len(fired) != st.fired || len(resolved) != st.resolved {
			t.Fatalf("step %d: fired %d, resolved %d; want %d, %d", i, len(fired), len(resolved), st.fired, st.resolved)
		}
		as := m.Alerts("")
		state := ""
		if len(as) > 0 {
			state = as[0].State
		}
		if len(as) > 1 {
			t.Fatalf("step %d: %d alerts, want at most 1 (the match excludes endpoint other)", i, len(as))
		}
		if state != st.state {
			t.Fatalf("step %d: state %q, want %q", i, state, st.state)
		}
		if len(fired) == 1 {
			a := fired[0]
			want := map[string]string{"alertname": "InputDrift", "endpoint": "fraud", "version": "1", "severity": "warning"}
			if len(a.Labels) != len(want) {
				t.Errorf("labels: got %v, want %v", a.Labels, want)
			}
			for k, v := range want {
				if a.Labels[k] != v {
					t.Errorf("labels: got %v, want %v", a.Labels, want)
				}
			}
			if got := a.Annotations["summary"]; got != "fraud v1 inputs drifted (max PSI 0.4)" {
				t.Errorf("summary: got %q", got)
			}
			if !a.ActiveAt.Equal(t0.Add(10*time.Second)) || !a.FiredAt.Equal(t0.Add(70*time.Second)) {
				t.Errorf("times: active %v, fired %v", a.ActiveAt, a.FiredAt)
			}
		}
	}
}

// TestWebhookAndAlertmanagerDelivery runs the manager against a real HTTP
// receiver and checks the Alertmanager webhook and v2 API bodies.
func TestWebhookAndAlertmanagerDelivery(t *testing.T) {
	type got struct {
		path string
		auth string
		body []byte
	}
	ch := make(chan got, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.URL.Path, r.Header.Get("Authorization"), b}
	}))
	defer srv.Close()
	c := Config{
		Interval:      traffic.Duration(100 * time.Millisecond),
		Webhooks:      []Webhook{{URL: srv.URL + "/hook", Headers: map[string]string{"Authorization": "Bearer s3cret"}}},
		Alertmanagers: []string{srv.URL},
		Rules:         []Rule{{Name: "InputDrift", Metric: "drift_psi_max", Comparison: ">", Threshold: 0.2}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	src.set(drift("fraud", 0.5))
	m := NewManager(c, src.source, Options{ExternalURL: "http://sluice:8080"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	var hook WebhookMessage
	var am []PostableAlert
	deadline := time.After(10 * time.Second)
	for hook.Status == "" || am == nil {
		select {
		case g := <-ch:
			switch g.path {
			case "/hook":
				if g.auth != "Bearer s3cret" {
					t.Errorf("webhook Authorization: %q", g.auth)
				}
				if err := json.Unmarshal(g.body, &hook); err != nil {
					t.Fatal(err)
				}
			case "/api/v2/alerts":
				if err := json.Unmarshal(g.body, &am); err != nil {
					t.Fatal(err)
				}
			}
		case <-deadline:
			t.Fatalf("no notification: webhook %+v, alertmanager %+v", hook, am)
		}
	}
	if hook.Version != "4" || hook.Status != "firing" || len(hook.Alerts) != 1 || hook.Alerts[0].Labels["endpoint"] != "fraud" || hook.GroupLabels["alertname"] != "InputDrift" || hook.Alerts[0].GeneratorURL != "http://sluice:8080/api/v1/alerts" {
		t.Errorf("webhook message: %+v", hook)
	}
	if len(am) != 1 || am[0].Labels["alertname"] != "InputDrift" || am[0].StartsAt.IsZero() || !am[0].EndsAt.After(am[0].StartsAt) {
		t.Errorf("alertmanager alerts: %+v", am)
	}
	g := m.Gettable()
	if len(g) != 1 || g[0].Status.State != "active" || g[0].Fingerprint == "" || g[0].Receivers[0].Name != "webhook" {
		t.Errorf("gettable: %+v", g)
	}

	// The drift goes away: a resolved notification follows.
	src.set(drift("fraud", 0.05))
	deadline = time.After(10 * time.Second)
	for {
		select {
		case g := <-ch:
			if g.path != "/hook" {
				continue
			}
			var msg WebhookMessage
			if err := json.Unmarshal(g.body, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Status != "resolved" || msg.Alerts[0].EndsAt.IsZero() {
				t.Fatalf("second webhook message: %+v", msg)
			}
			if len(m.Gettable()) != 0 {
				t.Errorf("resolved alert still listed")
			}
			return
		case <-deadline:
			t.Fatal("no resolved notification")
		}
	}
}
