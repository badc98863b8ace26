package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newFeedbackCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Send labels and rewards for earlier predictions",
	}
	cmd.AddCommand(newFeedbackUploadCmd(e))
	return cmd
}

// feedbackRow is one item of POST /v1/feedback.
type feedbackRow struct {
	RequestID string   `json:"request_id"`
	Label     *float64 `json:"label,omitempty"`
	Reward    *float64 `json:"reward,omitempty"`
}

func newFeedbackUploadCmd(e *env) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "upload FILE.csv",
		Short: "Upload labels and/or rewards from a CSV with request_id, label, reward columns",
		Long: `upload reads a CSV whose header names a request_id column and a label column, a reward
column, or both (empty cells are skipped), and sends it to POST /v1/feedback in batches. It
prints how many rows joined their prediction and lists the ones that did not.`,
		Example: `  sluice feedback upload labels.csv
  printf 'request_id,label\nc670bb14...,1\n' | sluice feedback upload -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = e.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			cr := csv.NewReader(r)
			header, err := cr.Read()
			if err != nil {
				return fmt.Errorf("%s: reading the header: %w", args[0], err)
			}
			col := map[string]int{}
			for i, h := range header {
				col[strings.TrimSpace(strings.ToLower(h))] = i
			}
			idCol, ok := col["request_id"]
			if !ok {
				return fmt.Errorf("%s: the header has no request_id column", args[0])
			}
			labelCol, hasLabel := col["label"]
			rewardCol, hasReward := col["reward"]
			if !hasLabel && !hasReward {
				return fmt.Errorf("%s: the header needs a label or a reward column", args[0])
			}
			var items []feedbackRow
			line := 1
			joined, rejected := 0, 0
			flush := func() error {
				if len(items) == 0 {
					return nil
				}
				j, rj, err := e.sendFeedback(items)
				joined += j
				rejected += rj
				items = items[:0]
				return err
			}
			for {
				rec, err := cr.Read()
				if err == io.EOF {
					break
				}
				line++
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				it := feedbackRow{RequestID: rec[idCol]}
				num := func(c int, name string) (*float64, error) {
					if c >= len(rec) || strings.TrimSpace(rec[c]) == "" {
						return nil, nil
					}
					x, err := strconv.ParseFloat(strings.TrimSpace(rec[c]), 64)
					if err != nil {
						return nil, fmt.Errorf("%s line %d: %s: %q is not a number", args[0], line, name, rec[c])
					}
					return &x, nil
				}
				if hasLabel {
					if it.Label, err = num(labelCol, "label"); err != nil {
						return err
					}
				}
				if hasReward {
					if it.Reward, err = num(rewardCol, "reward"); err != nil {
						return err
					}
				}
				if it.Label == nil && it.Reward == nil {
					continue
				}
				items = append(items, it)
				if len(items) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d joined, %d rejected\n", joined, rejected)
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "rows per request")
	return cmd
}

// sendFeedback posts one batch and reports rows that did not join.
func (e *env) sendFeedback(items []feedbackRow) (joined, rejected int, err error) {
	body, err := json.Marshal(items)
	if err != nil {
		return 0, 0, err
	}
	base := e.client().Base()
	resp, err := http.Post(base+"/v1/feedback", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("calling Sluice at %s: %w", base, err)
	}
	defer resp.Body.Close()
	var out struct {
		Joined   int    `json:"joined"`
		Rejected int    `json:"rejected"`
		Error    string `json:"error"`
		Results  []struct {
			RequestID string `json:"request_id"`
			Status    string `json:"status"`
			Error     string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, 0, fmt.Errorf("decoding the feedback answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("feedback: %s (HTTP %d)", out.Error, resp.StatusCode)
	}
	for _, r := range out.Results {
		if r.Status != "joined" {
			fmt.Fprintf(e.stderr, "%s: %s\n", r.RequestID, r.Error)
		}
	}
	return out.Joined, out.Rejected, nil
}
