package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/stream"
	"github.com/sluicehq/sluice/internal/stream/broker"
)

func newStreamCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Score event streams: topic in, endpoint, topic out",
		Long: `A stream reads messages from a topic (NATS JetStream, Kafka, MQTT), optionally
adds window aggregates per key, scores each message through an endpoint or a
model, and publishes one result per message to a sink topic; messages that
cannot be decoded or scored go to a dead letter topic with the reason. Input is
acknowledged only after its result is published (at least once).

  sluice stream create scores --source nats://127.0.0.1:4222/transactions \
      --endpoint fraud --sink nats://127.0.0.1:4222/scores \
      --dead-letter nats://127.0.0.1:4222/scores.dlq
  sluice stream publish nats://127.0.0.1:4222/transactions < rows.jsonl
  sluice stream tail nats://127.0.0.1:4222/scores`,
	}
	cmd.AddCommand(newStreamCreateCmd(e), newStreamListCmd(e), newStreamShowCmd(e),
		newStreamActionCmd(e, "pause", "Stop a stream's pipeline; messages wait in the broker"),
		newStreamActionCmd(e, "resume", "Start a paused stream's pipeline again"),
		newStreamDeleteCmd(e), newStreamPublishCmd(e), newStreamTailCmd(e))
	return cmd
}

// decodeStream strictly decodes a Stream document (YAML or JSON).
func decodeStream(data []byte, file string) (stream.Document, error) {
	var doc stream.Document
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return doc, fmt.Errorf("%s: %w", file, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return doc, fmt.Errorf("%s: %s: expected %s, got %s", file, te.Field, te.Type, te.Value)
		}
		return doc, fmt.Errorf("%s: %v", file, strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := doc.Validate(); err != nil {
		return doc, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

// windowFlags are the --window flags of stream create.
type windowFlags struct {
	window, key string
	lateness    time.Duration
	aggs        []string
}

// parse builds a Window from "tumbling:10m" or "sliding:10m:1m" and
// aggregates "count:n_10m" or "sum:amount:amount_10m".
func (w *windowFlags) parse() (*stream.Window, error) {
	if w.window == "" {
		if len(w.aggs) > 0 || w.key != "" {
			return nil, errors.New("--agg and --window-key need --window")
		}
		return nil, nil
	}
	parts := strings.Split(w.window, ":")
	win := &stream.Window{Type: parts[0], KeyBy: w.key, AllowedLateness: stream.Duration(w.lateness)}
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("--window %q: want tumbling:SIZE or sliding:SIZE[:SLIDE], e.g. sliding:10m:1m", w.window)
	}
	d, err := time.ParseDuration(parts[1])
	if err != nil {
		return nil, fmt.Errorf("--window %q: size: %v", w.window, err)
	}
	win.Size = stream.Duration(d)
	if len(parts) == 3 {
		if d, err = time.ParseDuration(parts[2]); err != nil {
			return nil, fmt.Errorf("--window %q: slide: %v", w.window, err)
		}
		win.Slide = stream.Duration(d)
	}
	for _, a := range w.aggs {
		p := strings.Split(a, ":")
		switch {
		case len(p) == 2 && p[0] == "count":
			win.Aggregates = append(win.Aggregates, stream.Aggregate{Fn: "count", As: p[1]})
		case len(p) == 3:
			win.Aggregates = append(win.Aggregates, stream.Aggregate{Fn: p[0], Field: p[1], As: p[2]})
		default:
			return nil, fmt.Errorf("--agg %q: want count:NAME or FN:FIELD:NAME (FN: sum, mean, min, max, last)", a)
		}
	}
	return win, nil
}

func newStreamCreateCmd(e *env) *cobra.Command {
	var file, columns string
	var spec stream.Spec
	var dec stream.Decode
	var wf windowFlags
	cmd := &cobra.Command{
		Use:   "create NAME --source URL (--endpoint E | --model M) --sink URL [--dead-letter URL] | -f FILE",
		Short: "Create a stream, or update it from a Stream file",
		Example: `  sluice stream create scores --source nats://127.0.0.1:4222/transactions --endpoint fraud \
      --sink nats://127.0.0.1:4222/scores --dead-letter nats://127.0.0.1:4222/scores.dlq
  sluice stream create card-risk --source kafka://127.0.0.1:9092/tx --model fraud@production \
      --sink kafka://127.0.0.1:9092/risk --key-field card --time-field ts \
      --window sliding:10m:1m --agg count:tx_10m --agg sum:amount:amount_10m
  sluice stream create -f examples/streams/scores.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc stream.Document
			if file != "" {
				if len(args) > 0 {
					return errors.New("give either NAME with flags or -f FILE")
				}
				var data []byte
				var err error
				if file == "-" {
					data, err = io.ReadAll(io.LimitReader(e.stdin, maxSpecBytes))
				} else {
					data, err = os.ReadFile(file)
				}
				if err != nil {
					return err
				}
				if doc, err = decodeStream(data, file); err != nil {
					return err
				}
			} else {
				if len(args) != 1 {
					return errors.New("give the stream's NAME (or -f FILE)")
				}
				doc = stream.Document{APIVersion: stream.APIVersion, Kind: stream.Kind, Metadata: stream.Metadata{Name: args[0]}, Spec: spec}
				if dec.Format != "" || columns != "" || dec.Delimiter != "" {
					d := dec
					if columns != "" {
						d.Columns = strings.Split(columns, ",")
					}
					if d.Format == "" {
						d.Format = "json"
						if columns != "" {
							d.Format = "csv"
						}
					}
					doc.Spec.Decode = &d
				}
				w, err := wf.parse()
				if err != nil {
					return err
				}
				doc.Spec.Window = w
				if err := doc.Validate(); err != nil {
					return err
				}
			}
			c := e.client()
			v, err := c.CreateStream(e.ctx, doc)
			what := "created"
			var ae *apiclient.Error
			if errors.As(err, &ae) && ae.Code == apiclient.CodeAlreadyExists && file != "" {
				v, err = c.UpdateStream(e.ctx, doc)
				what = "updated"
			}
			if err != nil {
				return err
			}
			return e.emit(v, func() error {
				sp := v.Stream.Spec
				target := "endpoint " + sp.Endpoint
				if sp.Model != "" {
					target = "model " + sp.Model
				}
				fmt.Fprintf(e.stdout, "Stream %s %s: %s → %s → %s\n", v.Stream.Metadata.Name, what, sp.Source, target, sp.Sink)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "Stream YAML or JSON file, or - for stdin (creates or updates)")
	f.StringVar(&spec.Source, "source", "", "broker URL to read: nats://HOST:4222/SUBJECT, kafka://HOST:9092/TOPIC, mqtt://HOST:1883/TOPIC, mqtt5://...")
	f.StringVar(&spec.Endpoint, "endpoint", "", "endpoint to score through (its traffic strategy applies)")
	f.StringVar(&spec.Model, "model", "", "model to score with: NAME, NAME@VERSION or NAME@ALIAS")
	f.StringVar(&spec.Sink, "sink", "", "broker URL results are published to")
	f.StringVar(&spec.DeadLetter, "dead-letter", "", "broker URL messages that cannot be decoded or scored go to, with the reason")
	f.StringVar(&dec.Format, "format", "", "message format: json (default) or csv")
	f.StringVar(&columns, "columns", "", "CSV field names in order, comma separated (implies --format csv)")
	f.StringVar(&dec.Delimiter, "delimiter", "", "CSV delimiter (default ,)")
	f.StringVar(&spec.KeyField, "key-field", "", "input field that is the message key (default: the broker's key)")
	f.StringVar(&spec.IDField, "id-field", "", "input field that identifies a message (default: its broker position)")
	f.StringVar(&spec.TimeField, "time-field", "", "input field with the event time, RFC 3339 or Unix time (default: broker time)")
	f.IntVar(&spec.BatchSize, "batch", 0, "messages read and in flight at once (default 256)")
	f.StringVar(&wf.window, "window", "", "window: tumbling:SIZE or sliding:SIZE[:SLIDE], e.g. sliding:10m:1m")
	f.StringVar(&wf.key, "window-key", "", "field the window is kept per (default: the message key)")
	f.DurationVar(&wf.lateness, "lateness", 0, "allowed lateness of event times behind the newest of a key")
	f.StringArrayVar(&wf.aggs, "agg", nil, "window aggregate that becomes a model input: count:NAME or FN:FIELD:NAME (sum, mean, min, max, last); repeat")
	return cmd
}

// streamHeader is the header of streamRow's table.
var streamHeader = []string{"NAME", "STATE", "SOURCE", "TARGET", "SINK", "IN", "OUT", "DEAD"}

// streamRow is a stream's row in `stream list` and `get streams`.
func streamRow(v apiclient.StreamView) []string {
	sp := v.Stream.Spec
	target := sp.Endpoint
	if sp.Model != "" {
		target = "model " + sp.Model
	}
	state := "running elsewhere"
	switch {
	case sp.Paused:
		state = "paused"
	case v.Status != nil && v.Status.LastError != "":
		state = "failing"
	case v.Status != nil:
		state = "running"
	}
	in, out, dead := "-", "-", "-"
	if v.Status != nil {
		in, out, dead = strconv.FormatUint(v.Status.In, 10), strconv.FormatUint(v.Status.Out, 10), strconv.FormatUint(v.Status.DeadLettered, 10)
	}
	return []string{v.Stream.Metadata.Name, state, sp.Source, target, sp.Sink, in, out, dead}
}

func newStreamListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List streams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := e.client().ListStreams(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(vs, func() error {
				rows := make([][]string, len(vs))
				for i, v := range vs {
					rows[i] = streamRow(v)
				}
				return e.table(streamHeader, rows)
			})
		},
	}
}

func newStreamShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a stream's spec and its pipeline on the answering server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.client().GetStream(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(v, func() error {
				b, err := yaml.Marshal(v.Stream)
				if err != nil {
					return err
				}
				e.stdout.Write(b)
				fmt.Fprintf(e.stdout, "# generation %d, updated %s by %s\n", v.Generation, v.UpdatedAt.Format(time.RFC3339), v.CreatedBy)
				if s := v.Status; s != nil {
					fmt.Fprintf(e.stdout, "# running here since %s: in %d, out %d, dead letters %d, retries %d, restarts %d, lag %d\n",
						s.Since.Format(time.RFC3339), s.In, s.Out, s.DeadLettered, s.Retries, s.Restarts, s.Lag)
					if s.LastError != "" {
						fmt.Fprintf(e.stdout, "# last error: %s\n", s.LastError)
					}
				} else if !v.Stream.Spec.Paused {
					fmt.Fprintln(e.stdout, "# not running on this server (another node holds it, or it is starting)")
				}
				return nil
			})
		},
	}
}

func newStreamActionCmd(e *env, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := e.client()
			var v apiclient.StreamView
			var err error
			if verb == "pause" {
				v, err = c.PauseStream(e.ctx, args[0])
			} else {
				v, err = c.ResumeStream(e.ctx, args[0])
			}
			if err != nil {
				return err
			}
			return e.emit(v, func() error {
				fmt.Fprintf(e.stdout, "Stream %s %sd\n", args[0], verb)
				return nil
			})
		},
	}
}

func newStreamDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stream and its window state (topics are left alone)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteStream(e.ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Stream %s deleted\n", args[0])
			return nil
		},
	}
}

// maxPublishLine bounds one line read by stream publish.
const maxPublishLine = 4 << 20

func newStreamPublishCmd(e *env) *cobra.Command {
	var keyField, csvHeader string
	var batch int
	cmd := &cobra.Command{
		Use:   "publish URL < FILE",
		Short: "Publish each line of stdin as one message (JSON lines, or CSV with --csv)",
		Long: `Publish reads lines from stdin and publishes each non-empty line as one message
to the broker URL, waiting for the broker to accept them. With --csv the first
line is a header: each following line is published as a JSON object of the
header's names and the line's values (numbers where they parse).`,
		Example: `  sluice stream publish nats://127.0.0.1:4222/transactions < rows.jsonl
  sluice stream publish --csv nats://127.0.0.1:4222/transactions < examples/xgboost/breast_cancer.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(e.ctx, 10*time.Minute)
			defer cancel()
			sink, err := broker.OpenSink(ctx, args[0], broker.Options{ClientID: "sluice-cli"})
			if err != nil {
				return err
			}
			defer sink.Close()
			sc := bufio.NewScanner(e.stdin)
			sc.Buffer(make([]byte, 64<<10), maxPublishLine)
			var header []string
			var recs []broker.Record
			n := 0
			flush := func() error {
				if len(recs) == 0 {
					return nil
				}
				if err := sink.Publish(ctx, recs); err != nil {
					return err
				}
				n += len(recs)
				recs = recs[:0]
				return nil
			}
			for line := 1; sc.Scan(); line++ {
				text := strings.TrimSpace(sc.Text())
				if text == "" {
					continue
				}
				value := []byte(text)
				if csvHeader == "true" {
					if header == nil {
						if header, err = csv.NewReader(strings.NewReader(text)).Read(); err != nil {
							return fmt.Errorf("stdin line %d: header: %w", line, err)
						}
						continue
					}
					if value, err = csvLineJSON(header, text); err != nil {
						return fmt.Errorf("stdin line %d: %w", line, err)
					}
				}
				r := broker.Record{Value: value}
				if keyField != "" {
					var m map[string]any
					if json.Unmarshal(value, &m) == nil && m[keyField] != nil {
						r.Key = []byte(fmt.Sprint(m[keyField]))
					}
				}
				recs = append(recs, r)
				if len(recs) >= batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			if err := flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "published %d messages to %s\n", n, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&keyField, "key-field", "", "JSON field whose value becomes the message key")
	cmd.Flags().StringVar(&csvHeader, "csv", "false", "read CSV with a header line instead of JSON lines")
	cmd.Flags().Lookup("csv").NoOptDefVal = "true"
	cmd.Flags().IntVar(&batch, "batch", 500, "messages published at once")
	return cmd
}

// csvLineJSON turns a CSV line into a JSON object under header.
func csvLineJSON(header []string, line string) ([]byte, error) {
	r := csv.NewReader(strings.NewReader(line))
	vals, err := r.Read()
	if err != nil {
		return nil, err
	}
	if len(vals) != len(header) {
		return nil, fmt.Errorf("%d values, the header has %d", len(vals), len(header))
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, h := range header {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(h)
		b.Write(k)
		b.WriteByte(':')
		v := strings.TrimSpace(vals[i])
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			b.WriteString(v)
		} else {
			s, _ := json.Marshal(v)
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func newStreamTailCmd(e *env) *cobra.Command {
	var count int
	var group string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "tail URL",
		Short: "Print messages arriving on a topic, one per line",
		Long: `Tail reads a topic with a consumer group of its own (a fresh one unless --group
is given, so it starts from the oldest message the broker keeps) and prints each
message on its own line until interrupted, --count messages were printed, or
--timeout passed without a message.`,
		Example: `  sluice stream tail nats://127.0.0.1:4222/scores --count 10`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if group == "" {
				group = "sluice-tail-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			src, err := broker.OpenSource(e.ctx, args[0], broker.Options{Group: group, ClientID: "sluice-cli"})
			if err != nil {
				return err
			}
			defer src.Close()
			w := bufio.NewWriter(e.stdout)
			defer w.Flush()
			printed := 0
			last := time.Now()
			for count <= 0 || printed < count {
				max := 256
				if count > 0 {
					max = min(max, count-printed)
				}
				msgs, err := src.Fetch(e.ctx, max, time.Second)
				if err != nil {
					if e.ctx.Err() != nil {
						return nil
					}
					return err
				}
				for _, m := range msgs {
					w.Write(m.Value)
					w.WriteByte('\n')
				}
				printed += len(msgs)
				if len(msgs) > 0 {
					last = time.Now()
					w.Flush()
					if err := src.Ack(e.ctx, msgs); err != nil {
						return err
					}
				} else if timeout > 0 && time.Since(last) > timeout {
					return nil
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many messages (0: run until interrupted)")
	cmd.Flags().StringVar(&group, "group", "", "consumer group (default: a new one that reads from the start)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop when no message arrived for this long (0: never)")
	return cmd
}
