package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// csvPredict is `sluice predict --csv`.
type csvPredict struct {
	path    string
	ignore  []string
	label   string
	headers []string
}

// predictCSV scores every row of a CSV file and prints one line per row.
func (e *env) predictCSV(endpoint string, cf csvPredict) error {
	f, err := os.Open(cf.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: reading the header: %w", cf.path, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
	}
	skip := map[int]bool{}
	col := func(name, flag string) (int, error) {
		i := slices.Index(head, name)
		if i < 0 {
			return 0, fmt.Errorf("%s: %q: no such column in %s", flag, name, cf.path)
		}
		skip[i] = true
		return i, nil
	}
	for _, c := range cf.ignore {
		if _, err := col(c, "--ignore"); err != nil {
			return err
		}
	}
	labelCol := -1
	if cf.label != "" {
		if labelCol, err = col(cf.label, "--label-column"); err != nil {
			return err
		}
	}
	type hdr struct {
		name string
		col  int
	}
	var hdrs []hdr
	for _, h := range cf.headers {
		name, c, ok := strings.Cut(h, "=")
		if !ok || name == "" {
			return fmt.Errorf("--header-column: %q: want HEADER=COLUMN", h)
		}
		i, err := col(c, "--header-column")
		if err != nil {
			return err
		}
		hdrs = append(hdrs, hdr{name, i})
	}
	w := csv.NewWriter(e.stdout)
	out := []string{"request_id", "version", "prediction"}
	if labelCol >= 0 {
		out = append(out, "label")
	}
	_ = w.Write(out)
	client := e.client()
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", cf.path, err)
		}
		inst := map[string]any{}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if skip[i] || v == "" {
				continue
			}
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				inst[head[i]] = x
			} else {
				inst[head[i]] = v
			}
		}
		body, _ := json.Marshal(map[string]any{"instances": []any{inst}})
		headers := map[string]string{}
		for _, h := range hdrs {
			headers[h.name] = rec[h.col]
		}
		data, version, rid, err := client.PredictWithHeaders(e.ctx, endpoint, body, headers)
		if err != nil {
			var ae *apiclient.Error
			if errors.As(err, &ae) {
				e2 := *ae
				e2.Message = fmt.Sprintf("%s line %d: %s", cf.path, line, ae.Message)
				return &e2
			}
			return fmt.Errorf("%s line %d: %w", cf.path, line, err)
		}
		var resp struct {
			Predictions []json.RawMessage `json:"predictions"`
		}
		if err := json.Unmarshal(data, &resp); err != nil || len(resp.Predictions) != 1 {
			return fmt.Errorf("%s line %d: unexpected answer: %s", cf.path, line, data)
		}
		out := []string{rid, strconv.Itoa(version), string(resp.Predictions[0])}
		if labelCol >= 0 {
			out = append(out, rec[labelCol])
		}
		_ = w.Write(out)
	}
	w.Flush()
	return w.Error()
}
