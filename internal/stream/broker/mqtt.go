package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTT: a source is a client whose id is the group, with a persistent
// session (clean session off, QoS 1) and acknowledgements sent by Ack
// only, so the broker delivers unacknowledged messages again when the
// client comes back. MQTT has no consumer groups: two nodes cannot share
// one session, so an MQTT stream runs on one node (use a shared
// subscription topic, $share/GROUP/topic, to spread it on brokers that
// support them). A message's key is the MQTT 5 user property "key" when
// present; MQTT 3.1.1 has none.

// mqttQueue hands messages from the client's callback to Fetch. The
// callback blocks when the queue is full, which stops the client reading
// from the network: a slow pipeline slows the broker's delivery.
type mqttQueue struct {
	ch     chan *Message
	closed chan struct{}
	once   sync.Once
}

func newMQTTQueue(n int) *mqttQueue {
	return &mqttQueue{ch: make(chan *Message, n), closed: make(chan struct{})}
}

func (q *mqttQueue) put(m *Message) {
	select {
	case q.ch <- m:
	case <-q.closed:
	}
}

func (q *mqttQueue) close() { q.once.Do(func() { close(q.closed) }) }

func (q *mqttQueue) fetch(ctx context.Context, max int, wait time.Duration, lost <-chan error) ([]*Message, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	var out []*Message
	select {
	case m := <-q.ch:
		out = append(out, m)
	case <-t.C:
		return nil, nil
	case err := <-lost:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for len(out) < max {
		select {
		case m := <-q.ch:
			out = append(out, m)
		default:
			return out, nil
		}
	}
	return out, nil
}

// MQTT 3.1.1 (github.com/eclipse/paho.mqtt.golang).

type mqttSource struct {
	cl   mqtt.Client
	q    *mqttQueue
	lost chan error
}

func mqtt3Options(a Address, clientID string) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().SetClientID(clientID).SetProtocolVersion(4).
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(true).SetConnectRetry(false)
	for _, h := range a.Hosts {
		o.AddBroker("tcp://" + h)
	}
	if a.User != "" {
		o.SetUsername(a.User).SetPassword(a.Password)
	}
	return o
}

func mqttWait(ctx context.Context, tok mqtt.Token, what string) error {
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func openMQTTSource(ctx context.Context, a Address, opts Options) (Source, error) {
	s := &mqttSource{q: newMQTTQueue(opts.InFlight), lost: make(chan error, 1)}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		s.q.put(&Message{Value: m.Payload(), Topic: m.Topic(), Time: time.Now(), Redelivered: m.Duplicate(), ack: m})
	}
	o := mqtt3Options(a, sanitize(opts.Group)).SetCleanSession(false).SetAutoAckDisabled(true).SetOrderMatters(true).
		SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Subscribing again on every connection is harmless with a
			// persistent session and needed when the broker lost it.
			tok := c.Subscribe(a.Topic, 1, nil)
			if tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
				select {
				case s.lost <- fmt.Errorf("subscribing to MQTT topic %s: %w", a.Topic, tok.Error()):
				default:
				}
			}
		})
	s.cl = mqtt.NewClient(o)
	if err := mqttWait(ctx, s.cl.Connect(), "connecting to MQTT broker "+a.Hosts[0]); err != nil {
		return nil, err
	}
	// The handler subscribes too, on every connection; this waits for the
	// first subscription so the source is ready when it is returned.
	if err := mqttWait(ctx, s.cl.Subscribe(a.Topic, 1, nil), "subscribing to MQTT topic "+a.Topic); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *mqttSource) Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return s.q.fetch(ctx, max, wait, s.lost)
}

func (s *mqttSource) Ack(ctx context.Context, msgs []*Message) error {
	for _, m := range msgs {
		m.ack.(mqtt.Message).Ack()
	}
	return nil
}

func (s *mqttSource) Lag() int64 { return -1 }

func (s *mqttSource) Close() error {
	s.q.close()
	s.cl.Disconnect(250)
	return nil
}

type mqttSink struct {
	cl    mqtt.Client
	topic string
}

func openMQTTSink(ctx context.Context, a Address, opts Options) (Sink, error) {
	id := fmt.Sprintf("%s-pub-%d", sanitize(opts.ClientID), time.Now().UnixNano())
	cl := mqtt.NewClient(mqtt3Options(a, id).SetCleanSession(true))
	if err := mqttWait(ctx, cl.Connect(), "connecting to MQTT broker "+a.Hosts[0]); err != nil {
		return nil, err
	}
	return &mqttSink{cl: cl, topic: a.Topic}, nil
}

func (s *mqttSink) Publish(ctx context.Context, recs []Record) error {
	toks := make([]mqtt.Token, len(recs))
	for i, r := range recs {
		toks[i] = s.cl.Publish(s.topic, 1, false, r.Value)
	}
	for _, t := range toks {
		if err := mqttWait(ctx, t, "publishing to MQTT topic "+s.topic); err != nil {
			return err
		}
	}
	return nil
}

func (s *mqttSink) Close() error {
	s.cl.Disconnect(250)
	return nil
}

// MQTT 5 (github.com/eclipse/paho.golang). The connection is not
// re-established by the connector: a lost connection fails Fetch or
// Publish, and the pipeline that owns it starts over.

type mqtt5Source struct {
	cl   *paho.Client
	q    *mqttQueue
	lost chan error
}

func mqtt5Dial(ctx context.Context, a Address) (net.Conn, error) {
	var d net.Dialer
	var err error
	for _, h := range a.Hosts {
		var c net.Conn
		if c, err = d.DialContext(ctx, "tcp", h); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("connecting to MQTT broker: %w", err)
}

func mqtt5Connect(ctx context.Context, cl *paho.Client, a Address, clientID string, persistent bool, inflight int) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: !persistent}
	if a.User != "" {
		cp.Username, cp.UsernameFlag = a.User, true
		cp.Password, cp.PasswordFlag = []byte(a.Password), true
	}
	if persistent {
		expiry := uint32(7 * 24 * 3600)
		rm := uint16(min(inflight, 65535))
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &rm}
	}
	ca, err := cl.Connect(ctx, cp)
	if err != nil {
		return fmt.Errorf("connecting to MQTT 5 broker %s: %w", a.Hosts[0], err)
	}
	if ca.ReasonCode != 0 {
		return fmt.Errorf("connecting to MQTT 5 broker %s: refused with reason %d", a.Hosts[0], ca.ReasonCode)
	}
	return nil
}

func openMQTT5Source(ctx context.Context, a Address, opts Options) (Source, error) {
	conn, err := mqtt5Dial(ctx, a)
	if err != nil {
		return nil, err
	}
	s := &mqtt5Source{q: newMQTTQueue(opts.InFlight), lost: make(chan error, 1)}
	fail := func(err error) {
		select {
		case s.lost <- fmt.Errorf("MQTT 5 connection lost: %w", err):
		default:
		}
	}
	s.cl = paho.NewClient(paho.ClientConfig{
		Conn:                       conn,
		EnableManualAcknowledgment: true,
		OnClientError:              fail,
		OnServerDisconnect: func(d *paho.Disconnect) {
			fail(fmt.Errorf("the broker disconnected (reason %d)", d.ReasonCode))
		},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			m := &Message{Value: p.Payload, Topic: p.Topic, Time: time.Now(), Redelivered: p.Duplicate(), ack: p}
			if p.Properties != nil {
				if k := p.Properties.User.Get("key"); k != "" {
					m.Key = []byte(k)
				}
			}
			s.q.put(m)
			return true, nil
		}},
	})
	if err := mqtt5Connect(ctx, s.cl, a, sanitize(opts.Group), true, opts.InFlight); err != nil {
		conn.Close()
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := s.cl.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: a.Topic, QoS: 1}}}); err != nil {
		s.Close()
		return nil, fmt.Errorf("subscribing to MQTT topic %s: %w", a.Topic, err)
	}
	return s, nil
}

func (s *mqtt5Source) Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	return s.q.fetch(ctx, max, wait, s.lost)
}

func (s *mqtt5Source) Ack(ctx context.Context, msgs []*Message) error {
	for _, m := range msgs {
		if err := s.cl.Ack(m.ack.(*paho.Publish)); err != nil {
			return fmt.Errorf("acknowledging an MQTT message: %w", err)
		}
	}
	return nil
}

func (s *mqtt5Source) Lag() int64 { return -1 }

func (s *mqtt5Source) Close() error {
	s.q.close()
	err := s.cl.Disconnect(&paho.Disconnect{ReasonCode: 0})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return nil
}

type mqtt5Sink struct {
	cl    *paho.Client
	topic string
}

func openMQTT5Sink(ctx context.Context, a Address, opts Options) (Sink, error) {
	conn, err := mqtt5Dial(ctx, a)
	if err != nil {
		return nil, err
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: conn})
	id := fmt.Sprintf("%s-pub-%d", sanitize(opts.ClientID), time.Now().UnixNano())
	if err := mqtt5Connect(ctx, cl, a, id, false, 0); err != nil {
		conn.Close()
		return nil, err
	}
	return &mqtt5Sink{cl: cl, topic: a.Topic}, nil
}

func (s *mqtt5Sink) Publish(ctx context.Context, recs []Record) error {
	// One at a time: paho.golang's blocking publish is the only one that
	// reports the broker's acknowledgement, and concurrent publishes would
	// reorder the records.
	for _, r := range recs {
		p := &paho.Publish{Topic: s.topic, QoS: 1, Payload: r.Value, Properties: &paho.PublishProperties{}}
		if len(r.Key) > 0 {
			p.Properties.User.Add("key", string(r.Key))
		}
		if r.ID != "" {
			p.Properties.User.Add("id", r.ID)
		}
		for k, v := range r.Headers {
			p.Properties.User.Add(k, v)
		}
		if _, err := s.cl.Publish(ctx, p); err != nil {
			return fmt.Errorf("publishing to MQTT topic %s: %w", s.topic, err)
		}
	}
	return nil
}

func (s *mqtt5Sink) Close() error {
	_ = s.cl.Disconnect(&paho.Disconnect{ReasonCode: 0})
	return nil
}
