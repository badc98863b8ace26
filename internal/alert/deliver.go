package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WebhookMessage is the body POSTed to a webhook: Alertmanager's webhook
// format (version 4), so receivers written for Alertmanager work as they
// are.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert in a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// PostableAlert is an alert in Alertmanager's v2 API (POST /api/v2/alerts).
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// GettableAlert is an alert as Alertmanager's v2 API lists it
// (GET /api/v2/alerts); Sluice serves its firing alerts in this shape.
type GettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Receivers    []Receiver        `json:"receivers"`
	Status       AlertStatus       `json:"status"`
}

// Receiver names a receiver in a GettableAlert.
type Receiver struct {
	Name string `json:"name"`
}

// AlertStatus is a GettableAlert's status.
type AlertStatus struct {
	State       string   `json:"state"` // active, suppressed, unprocessed
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// endsAtFor is how far ahead a firing alert's endsAt is set, as Prometheus
// does (4 evaluation intervals), so Alertmanager resolves it if Sluice
// stops sending.
func (m *Manager) endsAtFor(a Alert) time.Time {
	if a.State == StateResolved {
		return a.ResolvedAt
	}
	return a.UpdatedAt.Add(4 * time.Duration(m.cfg.Interval))
}

func (m *Manager) generatorURL() string {
	if m.opts.ExternalURL == "" {
		return ""
	}
	return strings.TrimSuffix(m.opts.ExternalURL, "/") + "/api/v1/alerts"
}

// Gettable returns the firing alerts in Alertmanager's v2 list shape.
func (m *Manager) Gettable() []GettableAlert {
	out := []GettableAlert{}
	if m == nil {
		return out
	}
	for _, a := range m.Alerts(StateFiring) {
		out = append(out, GettableAlert{
			Labels: a.Labels, Annotations: nonNil(a.Annotations), StartsAt: a.FiredAt, EndsAt: m.endsAtFor(a), UpdatedAt: a.UpdatedAt,
			GeneratorURL: m.generatorURL(), Fingerprint: a.Fingerprint, Receivers: m.receivers(),
			Status: AlertStatus{State: "active", SilencedBy: []string{}, InhibitedBy: []string{}},
		})
	}
	return out
}

func (m *Manager) receivers() []Receiver {
	var out []Receiver
	if len(m.cfg.Webhooks) > 0 {
		out = append(out, Receiver{Name: "webhook"})
	}
	if len(m.cfg.Alertmanagers) > 0 {
		out = append(out, Receiver{Name: "alertmanager"})
	}
	if out == nil {
		out = []Receiver{}
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// message builds the webhook body of a notification.
func (m *Manager) message(n notification) WebhookMessage {
	msg := WebhookMessage{Version: "4", Status: n.status, Receiver: "sluice", ExternalURL: m.opts.ExternalURL,
		GroupLabels: map[string]string{"alertname": n.rule}, GroupKey: fmt.Sprintf("{}:{alertname=%q}", n.rule)}
	for i, a := range n.alerts {
		msg.Alerts = append(msg.Alerts, WebhookAlert{Status: n.status, Labels: a.Labels, Annotations: nonNil(a.Annotations),
			StartsAt: a.FiredAt, EndsAt: func() time.Time {
				if a.State == StateResolved {
					return a.ResolvedAt
				}
				return time.Time{}
			}(), GeneratorURL: m.generatorURL(), Fingerprint: a.Fingerprint})
		if i == 0 {
			msg.CommonLabels, msg.CommonAnnotations = copyMap(a.Labels), copyMap(nonNil(a.Annotations))
			continue
		}
		intersect(msg.CommonLabels, a.Labels)
		intersect(msg.CommonAnnotations, a.Annotations)
	}
	return msg
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func intersect(common, other map[string]string) {
	for k, v := range common {
		if other[k] != v {
			delete(common, k)
		}
	}
}

// deliverLoop sends queued notifications until ctx ends.
func (m *Manager) deliverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-m.queue:
			m.deliver(ctx, n)
		}
	}
}

// deliveryAttempts is how often a notification is tried per receiver.
const deliveryAttempts = 3

func (m *Manager) deliver(ctx context.Context, n notification) {
	if n.status == "alertmanager" {
		var body []PostableAlert
		for _, a := range n.alerts {
			body = append(body, PostableAlert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.FiredAt, EndsAt: m.endsAtFor(a), GeneratorURL: m.generatorURL()})
		}
		data, _ := json.Marshal(body)
		for _, u := range m.cfg.Alertmanagers {
			m.post(ctx, strings.TrimSuffix(u, "/")+"/api/v2/alerts", nil, 10*time.Second, data)
		}
		return
	}
	data, _ := json.Marshal(m.message(n))
	for _, w := range m.cfg.Webhooks {
		timeout := time.Duration(w.Timeout)
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		m.post(ctx, w.URL, w.Headers, timeout, data)
	}
}

// post sends one body with retries and counts the outcome.
func (m *Manager) post(ctx context.Context, url string, headers map[string]string, timeout time.Duration, body []byte) {
	var err error
	for attempt := 0; attempt < deliveryAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		if err = m.postOnce(ctx, url, headers, timeout, body); err == nil {
			m.delivered.Add(1)
			return
		}
	}
	m.failed.Add(1)
	m.log.Warn("alert notification failed", "url", url, "attempts", deliveryAttempts, "err", err)
}

func (m *Manager) postOnce(ctx context.Context, url string, headers map[string]string, timeout time.Duration, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sluice-Alerts")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := m.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
