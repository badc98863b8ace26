package cli

import (
	"bufio"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/monitor/predlog"
)

func newLogsCmd(e *env) *cobra.Command {
	var since, until string
	var version, limit int
	cmd := &cobra.Command{
		Use:   "logs ENDPOINT",
		Short: "Read an endpoint's prediction log",
		Long: `logs prints the predictions an endpoint made (request id, time, version, role, inputs,
outputs, latency), oldest first, from the server's prediction log. -o json prints the
records as JSON lines.`,
		Example: `  sluice logs fraud --since 1h
  sluice logs fraud --since 2026-11-25T10:00:00Z --version 3 --limit 50 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if since != "" {
				q.Set("since", since)
			}
			if until != "" {
				q.Set("until", until)
			}
			if version > 0 {
				q.Set("version", strconv.Itoa(version))
			}
			q.Set("limit", strconv.Itoa(limit))
			body, err := e.client().Logs(e.ctx, args[0], q)
			if err != nil {
				return err
			}
			defer body.Close()
			sc := bufio.NewScanner(body)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			var rows [][]string
			for sc.Scan() {
				if e.output == "json" {
					fmt.Fprintln(e.stdout, sc.Text())
					continue
				}
				rec, err := predlog.DecodeLine(sc.Bytes())
				if err != nil {
					fmt.Fprintf(e.stderr, "skipping a record: %v\n", err)
					continue
				}
				out := rec.Error
				if out == "" {
					out = summarize(rec.Outputs)
				}
				rows = append(rows, []string{rec.Time.Local().Format(time.DateTime + ".000"), rec.RequestID, strconv.Itoa(rec.Version), rec.Role,
					fmt.Sprintf("%.2f", float64(rec.LatencyNS)/1e6), out})
			}
			if err := sc.Err(); err != nil {
				return err
			}
			if e.output == "json" {
				return nil
			}
			return e.table([]string{"TIME", "REQUEST_ID", "VERSION", "ROLE", "MS", "OUTPUT"}, rows)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "from this long ago (1h) or this RFC 3339 time")
	cmd.Flags().StringVar(&until, "until", "", "up to this long ago or this RFC 3339 time")
	cmd.Flags().IntVar(&version, "version", 0, "only this version")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many records")
	return cmd
}

// summarize prints the first output values of a record.
func summarize(vs []predlog.Value) string {
	if len(vs) == 0 {
		return "-"
	}
	v := vs[0]
	var parts []string
	for i, x := range v.Num {
		if i == 6 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, strconv.FormatFloat(x, 'g', 6, 64))
	}
	for i, x := range v.Str {
		if i == 6 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, x)
	}
	return v.Name + "=" + strings.Join(parts, ",")
}
