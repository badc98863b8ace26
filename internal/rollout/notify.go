package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Event kinds a rollout records and notifies.
var eventKinds = []string{"created", "started", "step", "analysis", "paused", "resumed", "promoted", "rolledBack", "aborted", "superseded", "restarted", "gates", "blocked"}

func isEventKind(s string) bool {
	for _, k := range eventKinds {
		if k == s {
			return true
		}
	}
	return false
}

// notice is the JSON body of a webhook notification.
type notice struct {
	Rollout   string    `json:"rollout"`
	Endpoint  string    `json:"endpoint"`
	Event     string    `json:"event"`
	Phase     Phase     `json:"phase"`
	Step      int       `json:"step"`
	Stable    int       `json:"stable"`
	Candidate int       `json:"candidate"`
	Weight    float64   `json:"weight"`
	Message   string    `json:"message"`
	Time      time.Time `json:"time"`
}

type delivery struct {
	url  string
	body []byte
}

// notifier posts notifications from a bounded queue, retrying each with
// exponential backoff. A full queue drops (and logs) rather than slowing
// the controller.
type notifier struct {
	log     *slog.Logger
	queue   chan delivery
	client  *http.Client
	retries int
	backoff time.Duration
}

func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, queue: make(chan delivery, 256), client: &http.Client{Timeout: 10 * time.Second}, retries: 6, backoff: 500 * time.Millisecond}
}

func (n *notifier) send(targets []Notification, no notice) {
	for _, t := range targets {
		if len(t.Events) > 0 && !contains(t.Events, no.Event) {
			continue
		}
		var body []byte
		var err error
		if t.Format == "slack" {
			body, err = json.Marshal(map[string]string{"text": slackText(no)})
		} else {
			body, err = json.Marshal(no)
		}
		if err != nil {
			continue
		}
		select {
		case n.queue <- delivery{url: t.URL, body: body}:
		default:
			n.log.Warn("rollout notification dropped: queue full", "url", t.URL, "rollout", no.Rollout, "event", no.Event)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func slackText(no notice) string {
	icon := map[string]string{"promoted": ":white_check_mark:", "rolledBack": ":rotating_light:", "aborted": ":no_entry:", "paused": ":double_vertical_bar:"}[no.Event]
	if icon == "" {
		icon = ":arrow_forward:"
	}
	return fmt.Sprintf("%s *%s* rollout `%s` on endpoint `%s` (v%d → v%d, %s): %s", icon, no.Event, no.Rollout, no.Endpoint, no.Stable, no.Candidate, no.Phase, no.Message)
}

// run delivers queued notifications in order until ctx ends.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-n.queue:
			n.deliver(ctx, d)
		}
	}
}

func (n *notifier) deliver(ctx context.Context, d delivery) {
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		err := n.post(ctx, d)
		if err == nil {
			return
		}
		if attempt > n.retries || ctx.Err() != nil {
			n.log.Warn("rollout notification failed", "url", d.url, "attempts", attempt, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (n *notifier) post(ctx context.Context, d delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-rollouts")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
