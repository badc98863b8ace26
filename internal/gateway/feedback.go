package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
)

// prediction summarises an output tensor for the request memory.
func prediction(b *Backend, role string, outputs []inference.Tensor, latency time.Duration) monitor.Prediction {
	return predictionIn(nil, b, role, outputs, latency)
}

// predictionIn is prediction with the values in mem when they fit (its
// length is ignored), else in a new slice.
func predictionIn(mem []float64, b *Backend, role string, outputs []inference.Tensor, latency time.Duration) monitor.Prediction {
	p := monitor.Prediction{Version: b.Version, Role: role, Latency: latency}
	if len(outputs) == 0 {
		return p
	}
	t := &outputs[0]
	n := t.Len()
	if n > monitor.MaxValues {
		n = monitor.MaxValues
	}
	p.Width = 1
	if len(t.Shape) >= 2 {
		p.Width = int(t.Shape[len(t.Shape)-1])
		if p.Width <= 0 {
			p.Width = 1
		}
	}
	n -= n % p.Width // whole rows only
	if cap(mem) >= n {
		p.Values = mem[:n]
		clear(p.Values)
	} else {
		p.Values = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		switch t.Datatype {
		case inference.FP32, inference.FP16:
			p.Values[i] = float64(t.F32[i])
		case inference.FP64:
			p.Values[i] = t.F64[i]
		case inference.UINT64:
			p.Values[i] = float64(t.U64[i])
		case inference.BOOL:
			if t.Bool[i] {
				p.Values[i] = 1
			}
		case inference.BYTES:
			p.Values[i] = math.NaN()
		default:
			p.Values[i] = float64(t.I64[i])
		}
	}
	return p
}

// remember records an answered request for feedback to join later.
func (g *Gateway) remember(rid string, ep *Endpoint, answer monitor.Prediction, groups []string) {
	g.rememberAt(time.Time{}, rid, ep, answer, groups)
}

// rememberAt is remember for an answer given at, or now when at is zero.
func (g *Gateway) rememberAt(at time.Time, rid string, ep *Endpoint, answer monitor.Prediction, groups []string) {
	if g.opts.Recent == nil {
		return
	}
	if at.IsZero() {
		at = time.Now()
	}
	g.opts.Recent.Add(&monitor.Request{ID: rid, Endpoint: ep.Name, Time: at, Answer: answer, Groups: groups})
}

// feedbackItem is one label or reward in POST /v1/feedback.
type feedbackItem struct {
	RequestID string          `json:"request_id"`
	Label     json.RawMessage `json:"label,omitempty"`
	Reward    *float64        `json:"reward,omitempty"`
}

type feedbackResult struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"` // joined, unknown, invalid
	Error     string `json:"error,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	Version   int    `json:"version,omitempty"`
}

// RewardSink receives rewards joined to the version that answered (the
// bandit state of an endpoint).
type RewardSink interface {
	Reward(endpoint string, version int, reward float64)
}

// feedback handles POST /v1/feedback: one item, an array of items, or
// {"feedback": [...]}. A single item answers 404 for an unknown or expired
// request id and 400 for a bad item; a batch answers 200 with a status per
// item.
func (g *Gateway) feedback(w http.ResponseWriter, r *http.Request) {
	if g.opts.Recent == nil {
		g.fail(w, &httpError{status: http.StatusNotImplemented, msg: "feedback is not enabled on this server"})
		return
	}
	in := g.bufs.Get().(*bytes.Buffer)
	defer g.putBuf(in)
	if herr := g.readBody(w, r, in); herr != nil {
		g.fail(w, herr)
		return
	}
	items, single, err := parseFeedback(in.Bytes())
	if err != nil {
		g.fail(w, &httpError{status: http.StatusBadRequest, msg: "feedback: " + err.Error()})
		return
	}
	if len(items) == 0 {
		g.fail(w, &httpError{status: http.StatusBadRequest, msg: "feedback: no items"})
		return
	}
	results := make([]feedbackResult, len(items))
	joined := 0
	for i, it := range items {
		results[i] = g.joinFeedback(i, it, single)
		if results[i].Status == "joined" {
			joined++
		}
	}
	if single && joined == 0 {
		status := http.StatusBadRequest
		if results[0].Status == "unknown" {
			status = http.StatusNotFound
		}
		g.fail(w, &httpError{status: status, msg: results[0].Error})
		return
	}
	body, _ := json.Marshal(map[string]any{"joined": joined, "rejected": len(items) - joined, "results": results})
	writeJSON(w, http.StatusOK, body)
}

// parseFeedback decodes one item, an array of items or {"feedback": [...]};
// single reports the first form.
func parseFeedback(body []byte) (items []feedbackItem, single bool, err error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) > 0 && body[0] == '[':
		err = strictUnmarshal(body, &items)
	case bytes.Contains(body, []byte(`"feedback"`)):
		var wrap struct {
			Feedback []feedbackItem `json:"feedback"`
		}
		err = strictUnmarshal(body, &wrap)
		items = wrap.Feedback
	default:
		var one feedbackItem
		err = strictUnmarshal(body, &one)
		items, single = []feedbackItem{one}, true
	}
	return items, single, err
}

// FeedbackResult is what JoinFeedback did with one message.
type FeedbackResult struct {
	// Joined and Rejected count the message's items.
	Joined, Rejected int
	// Errors say why items were rejected, one per rejected item.
	Errors []string
}

// JoinFeedback joins a feedback message (any body POST /v1/feedback takes)
// to the requests it names, as the HTTP route does; it is how feedback
// read from a topic enters. An error means the message did not decode.
func (g *Gateway) JoinFeedback(body []byte) (FeedbackResult, error) {
	if g.opts.Recent == nil {
		return FeedbackResult{}, errors.New("feedback is not enabled on this server")
	}
	items, _, err := parseFeedback(body)
	if err != nil {
		return FeedbackResult{}, fmt.Errorf("feedback: %w", err)
	}
	if len(items) == 0 {
		return FeedbackResult{}, errors.New("feedback: no items")
	}
	var res FeedbackResult
	for i, it := range items {
		r := g.joinFeedback(i, it, false)
		if r.Status == "joined" {
			res.Joined++
		} else {
			res.Rejected++
			res.Errors = append(res.Errors, r.Error)
		}
	}
	return res, nil
}

func (g *Gateway) joinFeedback(i int, it feedbackItem, single bool) feedbackResult {
	field := fmt.Sprintf("feedback[%d]", i)
	if single {
		field = "feedback"
	}
	res := feedbackResult{RequestID: it.RequestID, Status: "invalid"}
	if it.RequestID == "" {
		res.Error = field + ".request_id: required"
		return res
	}
	if it.Label == nil && it.Reward == nil {
		res.Error = field + ": give a label or a reward"
		return res
	}
	fb := monitor.Feedback{RequestID: it.RequestID}
	if it.Reward != nil {
		if math.IsNaN(*it.Reward) || math.IsInf(*it.Reward, 0) {
			res.Error = field + ".reward: must be a finite number"
			return res
		}
		fb.Reward, fb.HasReward = *it.Reward, true
	}
	if it.Label != nil {
		var one float64
		if err := json.Unmarshal(it.Label, &one); err == nil {
			fb.Labels = []float64{one}
		} else if err := json.Unmarshal(it.Label, &fb.Labels); err != nil || len(fb.Labels) == 0 {
			res.Error = field + ".label: want a number (one row) or an array of numbers (one per row)"
			return res
		}
	}
	req, ok := g.opts.Recent.Get(it.RequestID)
	if !ok {
		res.Status = "unknown"
		res.Error = fmt.Sprintf("%s.request_id: %q is unknown or older than the feedback horizon", field, it.RequestID)
		return res
	}
	res.Endpoint, res.Version = req.Endpoint, req.Answer.Version
	if g.opts.Outcomes != nil {
		if err := g.opts.Outcomes.Join(req, fb); err != nil {
			res.Error = field + ".label: " + err.Error()
			return res
		}
	}
	if fb.Labels != nil {
		g.opts.Performance.Join(req, fb.Labels, time.Now())
		g.opts.Fairness.Join(req, fb.Labels)
	}
	if fb.HasReward && g.opts.Rewards != nil {
		g.opts.Rewards.Reward(req.Endpoint, req.Answer.Version, fb.Reward)
	}
	res.Status = "joined"
	return res
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}
