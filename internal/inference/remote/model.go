package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/inference"
)

// Model is a version served by one or more replicas of a model server.
// It is safe for concurrent use. Close it to stop its health checks.
type Model struct {
	proto     Protocol
	timeout   time.Duration
	interval  time.Duration
	replicas  []*replica
	headRoom  int // bytes before a request body: room for the longest request head
	transport *http.Transport
	header    http.Header // sent with inference calls; shared, never modified
	getHeader http.Header // sent with metadata and readiness calls
	log       *slog.Logger

	// Set once by Load before the Model is shared.
	sig   inference.Signature
	specs []inputSpec
	tfOut tfOutput

	next atomic.Uint32 // round-robin position

	co *coalescer // gathers concurrent calls into pipelines; nil when off

	closed    atomic.Bool
	closeOnce sync.Once
	stop      context.CancelFunc // stops the health checker; nil before start
	done      chan struct{}      // closed when the health checker returns
}

var (
	_ inference.Model       = (*Model)(nil)
	_ inference.Warmer      = (*Model)(nil)
	_ inference.PredictorAt = (*Model)(nil)
	_ io.Closer             = (*Model)(nil)
)

// replica is one server of the model.
type replica struct {
	base    string        // the model URL from the document
	call    *http.Request // template of the inference POST, without body
	ready   *http.Request // template of the readiness GET
	healthy atomic.Bool   // last known state; a new replica is presumed healthy

	// pool and head serve inference calls over plain http (client.go);
	// pool is nil for replicas reached through transport.
	pool *connPool
	head []byte // the POST's head up to the Content-Length value
}

// errDeadline is the cause of a call's context when the version's timeout
// expires, telling it apart from the caller's own deadline.
var errDeadline = errors.New("remote: version timeout")

var errClosed = fmt.Errorf("remote: the model is closed: %w", inference.ErrBackendUnavailable)

// newModel builds the Model of a document; Load completes it.
func newModel(doc *Document, log *slog.Logger) (*Model, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := newDialer(doc.Timeout)
	m := &Model{
		proto:     doc.Protocol,
		timeout:   doc.Timeout,
		interval:  doc.HealthInterval,
		transport: newTransport(dialer, doc.Timeout),
		header:    http.Header{"Content-Type": {"application/json"}, "User-Agent": {"sluice"}},
		getHeader: http.Header{"User-Agent": {"sluice"}},
		log:       log,
	}
	// A zero-length value marks the POST as idempotent, so the transport
	// may resend it on a new connection when a kept-alive one was closed
	// by the server, without sending the header.
	m.header["X-Idempotency-Key"] = nil
	for k, v := range doc.Headers {
		m.header.Set(k, v)
		m.getHeader.Set(k, v)
	}
	for _, u := range doc.URLs {
		r := &replica{base: u}
		callURL, readyURL := u+"/infer", u+"/ready"
		if doc.Protocol == TFServing {
			callURL, readyURL = u+":predict", u
		}
		var err error
		if r.call, err = http.NewRequest(http.MethodPost, callURL, nil); err != nil {
			return nil, fmt.Errorf("urls: %q: %v", u, err)
		}
		r.call.Header = m.header
		if r.ready, err = http.NewRequest(http.MethodGet, readyURL, nil); err != nil {
			return nil, fmt.Errorf("urls: %q: %v", u, err)
		}
		r.ready.Header = m.getHeader
		if r.pool = newConnPool(r.call.URL, dialer); r.pool != nil {
			r.head = requestHead(r.call.URL, m.header)
			m.headRoom = max(m.headRoom, len(r.head)+len(contentLengthMax)+len("\r\n\r\n")+traceparentLine)
		}
		r.healthy.Store(true)
		m.replicas = append(m.replicas, r)
	}
	if doc.Pipeline > 1 && m.headRoom > 0 && allPooled(m.replicas) {
		m.co = &coalescer{max: doc.Pipeline, yield: gosched}
	}
	return m, nil
}

// allPooled reports whether every replica is reached over plain http,
// on connections of its own that can carry a pipeline.
func allPooled(rs []*replica) bool {
	for _, r := range rs {
		if r.pool == nil {
			return false
		}
	}
	return true
}

// Signature returns the signature given in the artifact or read from the
// server at Load.
func (m *Model) Signature() inference.Signature { return m.sig }

// Predict sends inputs to one replica and returns the outputs it
// answers. See the package documentation for retries and errors.
func (m *Model) Predict(ctx context.Context, inputs []inference.Tensor) ([]inference.Tensor, error) {
	return m.PredictAt(ctx, time.Now(), inputs)
}

// PredictAt is Predict for a call that began at start, the current time
// (inference.PredictorAt).
func (m *Model) PredictAt(ctx context.Context, start time.Time, inputs []inference.Tensor) ([]inference.Tensor, error) {
	if m.closed.Load() {
		return nil, errClosed
	}
	ins, err := prepare(m.specs, inputs)
	if err != nil {
		return nil, err
	}
	bp, rows, err := m.encode(ins)
	if err != nil {
		return nil, err
	}
	if m.co != nil && coalesces(ctx) {
		return m.sendCoalesced(ctx, start, bp, rows)
	}
	out, recycle, err := m.send(ctx, m.pick(nil), *bp, rows, m.deadlineAt(ctx, start))
	if recycle {
		putBuf(bp)
	}
	return out, err
}

// encode encodes inputs, checked by prepare, into a pooled buffer after
// m.headRoom bytes of room, where attemptConn writes the request head so
// that head and body go out in one write. rows is the number of TF
// Serving instances.
func (m *Model) encode(ins []inference.Tensor) (bp *[]byte, rows int, err error) {
	bp = getBuf()
	buf := slices.Grow((*bp)[:0], m.headRoom+512)[:m.headRoom]
	if m.proto == TFServing {
		t := &ins[0]
		if len(t.Shape) == 0 {
			putBuf(bp)
			return nil, 0, inference.Inputf(t.Name+".shape", "is [], want rows: protocol tfserving sends a tensor of rank 1 or more")
		}
		rows = int(t.Shape[0])
		buf = appendInstances(buf, t)
	} else {
		buf = appendV2Request(buf, ins)
	}
	*bp = buf
	return bp, rows, nil
}

// send makes a call to first, and when that fails in a way another
// replica may not, once more to another healthy replica. buf holds
// m.headRoom bytes of room and then the encoded body; recycle reports
// whether it may go back to the pool.
func (m *Model) send(ctx context.Context, first *replica, buf []byte, rows int, dl deadline) (out []inference.Tensor, recycle bool, err error) {
	out, res := m.attempt(ctx, first, buf, rows, dl)
	recycle = res.recycle
	if res.retry {
		if second := m.pick(first); second != nil {
			out, res = m.attempt(ctx, second, buf, rows, dl)
			recycle = recycle && res.recycle
		}
	}
	return out, recycle, res.err
}

// deadline is when a call must be answered: the version's timeout from
// now, or the caller's deadline when that comes first.
type deadline struct {
	t      time.Time
	caller bool // t is the caller's deadline
	// slack is how much later than t a connection's deadline may fire:
	// a sixteenth of the version timeout, none for the caller's
	// deadline. A connection whose deadline is already within it keeps
	// that deadline, so back-to-back calls do not reset a timer each.
	slack time.Duration
	now   time.Time // when the call began
}

func (m *Model) deadline(ctx context.Context) deadline {
	return m.deadlineAt(ctx, time.Now())
}

// deadlineAt is deadline for a call that began at now.
func (m *Model) deadlineAt(ctx context.Context, now time.Time) deadline {
	d := deadline{t: now.Add(m.timeout), slack: m.timeout / 16, now: now}
	if t, ok := ctx.Deadline(); ok && !t.After(d.t) {
		d = deadline{t: t, caller: true, now: now}
	}
	return d
}

// pick returns the next healthy replica other than skip, round robin.
// With no skip and no healthy replica it returns the next one anyway:
// health marks may be stale, and trying costs one failed connection.
// With skip (a retry) it returns nil when no other replica is healthy.
func (m *Model) pick(skip *replica) *replica {
	n := uint32(len(m.replicas))
	start := m.next.Add(1)
	for i := range n {
		r := m.replicas[(start+i)%n]
		if r != skip && r.healthy.Load() {
			return r
		}
	}
	if skip == nil {
		return m.replicas[start%n]
	}
	return nil
}

// result is how one attempt ended.
type result struct {
	err     error
	retry   bool // another replica may succeed
	recycle bool // the request buffer may go back to the pool
}

// attempt sends the request to r and decodes the answer. buf holds
// m.headRoom bytes of room and then the encoded body.
func (m *Model) attempt(ctx context.Context, r *replica, buf []byte, rows int, dl deadline) ([]inference.Tensor, result) {
	if r.pool == nil {
		return m.attemptTransport(ctx, r, buf[m.headRoom:], rows, dl)
	}
	return m.attemptConn(ctx, r, buf, rows, dl)
}

// contentLengthMax is the longest Content-Length value.
const contentLengthMax = "9223372036854775807"

// attemptConn makes the call over r's own connections (client.go).
func (m *Model) attemptConn(ctx context.Context, r *replica, buf []byte, rows int, dl deadline) ([]inference.Tensor, result) {
	res := result{recycle: true} // the request is written before roundTrip returns
	req := m.withHead(ctx, r, buf)
	if err := ctx.Err(); err != nil {
		res.err, res.retry = m.transportError(ctx, r, err, dl)
		return nil, res
	}
	bp := getBuf()
	defer putBuf(bp)
	resp, err := r.pool.roundTrip(ctx, req, dl, (*bp)[:0])
	*bp = resp.body
	if err != nil {
		if errors.Is(err, errTooLarge) {
			res.err = fmt.Errorf("remote: %s: %w", r.base, err)
			return nil, res
		}
		res.err, res.retry = m.transportError(ctx, r, err, dl)
		return nil, res
	}
	out, a := m.answer(r, resp.status, resp.body, rows)
	res.err, res.retry = a.err, a.retry
	return out, res
}

// withHead writes r's request head into the room before buf's body, and
// returns the whole request: r.head, the traceparent of ctx's span if
// any, the body's length, CRLF CRLF, ending where the body starts.
func (m *Model) withHead(ctx context.Context, r *replica, buf []byte) []byte {
	var num [len(contentLengthMax)]byte
	n := strconv.AppendInt(num[:0], int64(len(buf)-m.headRoom), 10)
	var tp [traceparentLine]byte
	trace := appendTraceparent(ctx, tp[:0])
	start := m.headRoom - len(r.head) - len(trace) - len(n) - 4
	// r.head ends with "Content-Length: "; the traceparent goes before it.
	cl := len(r.head) - len("Content-Length: ")
	k := copy(buf[start:], r.head[:cl])
	k += copy(buf[start+k:], trace)
	k += copy(buf[start+k:], r.head[cl:])
	k += copy(buf[start+k:], n)
	copy(buf[start+k:], "\r\n\r\n")
	return buf[start:]
}

// attemptTransport makes the call through m.transport (net/http), for
// https replicas.
func (m *Model) attemptTransport(ctx context.Context, r *replica, body []byte, rows int, dl deadline) ([]inference.Tensor, result) {
	ctx, cancel := context.WithDeadlineCause(ctx, dl.t, errDeadline)
	defer cancel()
	rb := &reqBody{b: body}
	req := r.call.WithContext(ctx)
	if sc := oteltrace.SpanContextFromContext(ctx); sc.IsValid() {
		req.Header = req.Header.Clone()
		traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	req.Body, req.GetBody, req.ContentLength = rb, rb.getBody, int64(len(body))
	resp, err := m.transport.RoundTrip(req)
	if err != nil {
		err, retry := m.transportError(ctx, r, err, dl)
		return nil, result{err: err, retry: retry, recycle: rb.reusable()}
	}
	bp := getBuf()
	data, err := readBody(resp, (*bp)[:0])
	resp.Body.Close()
	*bp = data
	defer putBuf(bp)
	if errors.Is(err, errTooLarge) {
		return nil, result{err: fmt.Errorf("remote: %s: %w", r.base, err), recycle: rb.reusable()}
	}
	if err != nil {
		err, retry := m.transportError(ctx, r, err, dl)
		return nil, result{err: err, retry: retry, recycle: rb.reusable()}
	}
	out, a := m.answer(r, resp.StatusCode, data, rows)
	return out, result{err: a.err, retry: a.retry, recycle: rb.reusable()}
}

// answered is how a call that got an HTTP answer ended.
type answered struct {
	err   error
	retry bool
}

// answer decodes a replica's answer: the outputs of a 200, else the
// error its status means.
func (m *Model) answer(r *replica, status int, data []byte, rows int) ([]inference.Tensor, answered) {
	if status != http.StatusOK {
		err, retry := m.statusError(r, status, errorMessage(data, status))
		return nil, answered{err, retry}
	}
	var out []inference.Tensor
	var err error
	if m.proto == TFServing {
		sp := getBuf()
		out, *sp, err = decodePredictions(data, rows, &m.tfOut, *sp)
		putBuf(sp)
	} else {
		out, err = decodeV2Response(data)
	}
	if err != nil {
		return nil, answered{err: fmt.Errorf("remote: %s: %w", r.base, err)}
	}
	return out, answered{}
}

// transportError classifies an error that left no HTTP answer. ctx is
// the caller's context, or one derived from it whose cause is
// errDeadline when dl passed.
func (m *Model) transportError(ctx context.Context, r *replica, err error, dl deadline) (error, bool) {
	if ctx.Err() != nil {
		if context.Cause(ctx) == errDeadline {
			return m.timeoutError(r), false
		}
		return fmt.Errorf("remote: %s: %w", r.base, context.Cause(ctx)), false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(dl.t) {
		// The connection's deadline, dl, passed (before the caller's
		// context noticed, when dl is the caller's).
		if dl.caller {
			return fmt.Errorf("remote: %s: %w", r.base, context.DeadlineExceeded), false
		}
		return m.timeoutError(r), false
	}
	err = unwrapURLError(err)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" && r.healthy.Swap(false) {
		m.log.Warn("model server replica unreachable; marked down until its next readiness check", "url", r.base, "err", err)
	}
	return fmt.Errorf("remote: %s: %w: %v", r.base, inference.ErrBackendUnavailable, err), true
}

func (m *Model) timeoutError(r *replica) error {
	return fmt.Errorf("remote: %s: no answer within %s: %w", r.base, m.timeout, inference.ErrTimeout)
}

// statusError classifies an answer other than 200 OK.
func (m *Model) statusError(r *replica, status int, msg string) (error, bool) {
	switch {
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return fmt.Errorf("remote: %s answered %d: %w: %s", r.base, status, inference.ErrBackendUnavailable, msg), true
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		return fmt.Errorf("remote: %s answered %d: %w: %s", r.base, status, inference.ErrTimeout, msg), status == http.StatusGatewayTimeout
	case status == http.StatusNotFound:
		return fmt.Errorf("remote: %s answered 404 (is the model URL right?): %w: %s", r.base, inference.ErrBackendUnavailable, msg), false
	case status >= 400 && status < 500:
		return &inference.InputError{Msg: "the model server rejected the input: " + msg}, false
	}
	return fmt.Errorf("remote: %s answered %d: %s", r.base, status, msg), false
}

// errorMessage extracts a server's error message: the "error" member of a
// JSON body (Triton, KServe, MLServer and TF Serving all use it), else the
// start of the body as text, else the status text.
func errorMessage(body []byte, status int) string {
	var e struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		switch v := e.Error.(type) {
		case string:
			return v
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body[:min(len(body), 512)]), "\uFFFD"))
	if len(body) > 512 {
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	if s == "" {
		return http.StatusText(status)
	}
	return s
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// method and URL the caller names anyway.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
